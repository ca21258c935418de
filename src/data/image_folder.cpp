#include "digitnet/data/image_folder.hpp"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "digitnet/core/error.hpp"
#include "digitnet/data/image.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;

// The size mixed-size images become when no size is asked for (MNIST's).
constexpr int kDefaultSide = 28;
// Files decoded per parallel round: bounds the decoded (unpacked, maybe large) images held at once.
constexpr int64_t kChunk = 256;

bool hidden(const std::string& name) { return !name.empty() && name[0] == '.'; }

bool image_name(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string ext = name.substr(dot + 1);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return ext == "png" || ext == "jpg" || ext == "jpeg" || ext == "pgm";
}

// Calls fn(name, entry) for each entry of dir whose name does not start with '.';
// stops when fn returns false.
template <class F>
void for_each_entry(const fs::path& dir, F&& fn) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!hidden(name) && !fn(name, *it)) return;
  }
  if (ec) throw Error(dir.string() + ": cannot list the folder: " + ec.message());
}

bool is_dir(const fs::directory_entry& e) {
  std::error_code ec;
  return e.is_directory(ec);
}

bool is_image(const std::string& name, const fs::directory_entry& e) {
  std::error_code ec;
  return image_name(name) && e.is_regular_file(ec);
}

// dir's subfolders, or its image files, by name in byte order.
std::vector<std::string> list(const fs::path& dir, bool folders) {
  std::vector<std::string> names;
  for_each_entry(dir, [&](const std::string& name, const fs::directory_entry& e) {
    if (folders ? is_dir(e) : is_image(name, e)) names.push_back(name);
    return true;
  });
  std::sort(names.begin(), names.end());  // std::string compares as unsigned bytes
  return names;
}

bool holds_an_image(const fs::path& dir) {
  bool found = false;
  for_each_entry(dir, [&](const std::string& name, const fs::directory_entry& e) {
    found = is_image(name, e);
    return !found;
  });
  return found;
}

std::string size_str(int height, int width) {
  return std::to_string(height) + "x" + std::to_string(width);
}

struct File {
  std::string path;
  int32_t label = 0;
};

// The images of split `dir`'s class folders, labelled by their index in `classes`.
std::vector<File> list_files(const fs::path& dir, const std::vector<std::string>& split_classes,
                             const std::vector<std::string>& classes) {
  std::vector<File> files;
  for (const std::string& c : split_classes) {
    const auto at = std::lower_bound(classes.begin(), classes.end(), c);
    const fs::path class_dir = dir / c;
    if (at == classes.end() || *at != c)
      throw Error(class_dir.string() + ": class \"" + c + "\" is not one of the " +
                  std::to_string(classes.size()) + " classes of the train split");
    const std::vector<std::string> names = list(class_dir, false);
    if (names.empty())
      throw Error(class_dir.string() +
                  ": the class folder holds no images (.png, .jpg, .jpeg, .pgm)");
    const auto label = static_cast<int32_t>(at - classes.begin());
    for (const std::string& n : names) files.push_back({(class_dir / n).string(), label});
  }
  return files;
}

// Packs images into a Dataset of one image size, resizing those of another.
class Packer {
 public:
  Packer(int64_t count, int height, int width) : count_(count) {
    if (height > 0) set_size(height, width);
  }
  bool sized() const { return height_ > 0; }
  int height() const { return height_; }
  int width() const { return width_; }
  int64_t resized() const { return resized_; }
  bool mixed() const { return mixed_; }

  // Appends an image decoded in order; `was_resized`: resized to the size already.
  void add(GrayImage img, int32_t label, bool was_resized) {
    if (!sized()) {
      if (native_h_ == 0) {
        native_h_ = img.height;
        native_w_ = img.width;
        start(native_h_, native_w_);
      }
      if (img.height != native_h_ || img.width != native_w_) to_default_size();
    }
    if (sized() && (img.height != height_ || img.width != width_)) {
      img = resize_image(img, height_, width_);
      was_resized = true;
    }
    resized_ += was_resized ? 1 : 0;
    data_.add(img.pixels, label);
  }

  Dataset take() { return std::move(data_); }

 private:
  void set_size(int height, int width) {
    height_ = height;
    width_ = width;
    start(height, width);
  }
  void start(int height, int width) {
    data_.image_shape = {1, height, width};
    data_.pixels = PackedImages(int64_t{height} * width);
    data_.pixels.reserve_worst_case(count_);
  }
  // The first image of another size: every image becomes 28x28, those so far too.
  void to_default_size() {
    mixed_ = true;
    Dataset old = std::move(data_);
    data_ = Dataset();
    set_size(kDefaultSide, kDefaultSide);
    const bool resize = native_h_ != height_ || native_w_ != width_;
    for (int64_t i = 0; i < old.size(); ++i) {
      GrayImage img{native_w_, native_h_, old.pixels.image(i)};
      if (resize) img = resize_image(img, height_, width_);
      data_.add(img.pixels, old.labels[static_cast<size_t>(i)]);
    }
    if (resize) resized_ += old.size();
  }

  int64_t count_;
  int height_ = 0, width_ = 0;       // the data set's size; 0 while it follows the images'
  int native_h_ = 0, native_w_ = 0;  // the first image's size
  int64_t resized_ = 0;
  bool mixed_ = false;
  Dataset data_;
};

// Decodes every file in order (in parallel rounds over the pool) into a packer.
void decode_all(const std::vector<File>& files, Packer& packer, ThreadPool* pool) {
  const auto n = static_cast<int64_t>(files.size());
  std::vector<GrayImage> images(static_cast<size_t>(std::min(n, kChunk)));
  std::vector<std::exception_ptr> errors(images.size());
  std::vector<char> was_resized(images.size());
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = std::min(kChunk, n - base);
    const bool sized = packer.sized();
    const int height = packer.height(), width = packer.width();
    auto decode = [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        const auto k = static_cast<size_t>(i);
        try {
          images[k] = read_image(files[static_cast<size_t>(base + i)].path);
          was_resized[k] = sized && (images[k].height != height || images[k].width != width);
          if (was_resized[k]) images[k] = resize_image(images[k], height, width);
        } catch (...) {
          errors[k] = std::current_exception();
        }
      }
    };
    if (pool && pool->size() > 1)
      pool->parallel_for(m, decode);
    else
      decode(0, m, 0);
    // The first failure in file order, as a serial load would report it.
    for (int64_t i = 0; i < m; ++i) {
      const auto k = static_cast<size_t>(i);
      if (errors[k]) std::rethrow_exception(errors[k]);
      packer.add(std::move(images[k]), files[static_cast<size_t>(base + i)].label,
                 was_resized[k] != 0);
      images[k] = GrayImage();
    }
  }
}

}  // namespace

ImageFolderLayout image_folder_layout(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return ImageFolderLayout::none;
  if (fs::is_directory(fs::path(root) / "train", ec)) return ImageFolderLayout::split;
  bool tree = false;
  for_each_entry(root, [&](const std::string&, const fs::directory_entry& e) {
    tree = is_dir(e) && holds_an_image(e.path());
    return !tree;
  });
  return tree ? ImageFolderLayout::tree : ImageFolderLayout::none;
}

Dataset load_image_folder(const std::string& root, const std::string& split,
                          const ImageFolderOptions& options) {
  if (split != "train" && split != "test")
    throw Error(root + ": unknown split \"" + split + "\" (expected train or test)");
  const int height = options.height, width = options.width;
  if (height < 0 || width < 0 || (height == 0) != (width == 0) ||
      (height > 0 && int64_t{width} > kMaxImagePixels / height))
    throw Error(root + ": image size " + size_str(height, width) +
                " is not valid (give a height and a width of at least 1, or 0 for both)");

  const ImageFolderLayout layout = image_folder_layout(root);
  std::error_code ec;
  if (layout == ImageFolderLayout::none) {
    if (!fs::exists(root, ec)) throw Error(root + ": no such folder");
    if (!fs::is_directory(root, ec)) throw Error(root + ": not a folder");
    throw Error(root +
                ": not an image folder: no train/ subfolder and no class subfolder holding "
                ".png, .jpg, .jpeg or .pgm files");
  }
  const fs::path train_dir =
      layout == ImageFolderLayout::split ? fs::path(root) / "train" : fs::path(root);
  const std::vector<std::string> classes = list(train_dir, true);
  if (classes.empty()) throw Error(train_dir.string() + ": no class subfolders");

  fs::path dir = train_dir;
  std::vector<std::string> split_classes = classes;
  if (split == "test") {
    if (layout == ImageFolderLayout::tree)
      throw Error(root + ": has no test split (it is one tree of class folders, " + root +
                  "/<class>/..., which is the train split)");
    dir = fs::path(root) / "test";
    if (!fs::is_directory(dir, ec))
      throw Error(root + ": has no test split (no test/ folder beside train/)");
    split_classes = list(dir, true);
    if (split_classes.empty()) throw Error(dir.string() + ": no class subfolders");
  }
  const std::vector<File> files = list_files(dir, split_classes, classes);

  Packer packer(static_cast<int64_t>(files.size()), height, width);
  decode_all(files, packer, options.pool);
  if (options.log && packer.resized() > 0)
    options.log(dir.string() + ": " + (packer.mixed() ? "mixed sizes: " : "") +
                std::to_string(packer.resized()) + " of " + std::to_string(files.size()) +
                " images resized to " + size_str(packer.height(), packer.width()));
  Dataset d = packer.take();
  d.num_classes = static_cast<int>(classes.size());
  d.class_names = classes;
  return d;
}

}  // namespace digitnet
