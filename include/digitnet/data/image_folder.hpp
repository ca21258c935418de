// digitnet/data/image_folder.hpp — a data set from a folder of image files, one subfolder per
// class.
//
// Layouts:
//   split: ROOT/train/<class>/<image>, optionally ROOT/test/<class>/<image>;
//   tree:  ROOT/<class>/<image>, the "train" split only.
// The classes are the train split's subfolder names sorted by byte order (as
// Keras' image_dataset_from_directory); a label is the index in that list. A
// test class must be one of them (the test split may lack some). Images are
// the files directly in a class folder named *.png, *.jpg, *.jpeg or *.pgm
// (case-insensitive), decoded to grey by decode_image (data/image.hpp) and
// taken in byte order of their names; names starting with '.' (files and
// folders) are skipped, and so are other files and a class folder's
// subfolders. A class folder without images, an image that does not decode, or
// a test class unknown to train is an Error naming it. ROOT is only read.
#pragma once
#include <functional>
#include <string>

#include "digitnet/core/thread_pool.hpp"
#include "digitnet/data/dataset.hpp"

namespace digitnet {

struct ImageFolderOptions {
  // The images' size in the data set. 0 (both): their own size when all share
  // one, else 28x28. Images of another size are resized (resize_image).
  int height = 0, width = 0;
  // Decode the files in parallel over this pool; the data set is the same as serial.
  ThreadPool* pool = nullptr;
  // Notes for the user, e.g. "ROOT/train: mixed sizes: 12 of 300 images resized to 28x28".
  std::function<void(const std::string&)> log;
};

// none: ROOT is not an image folder (not a directory, or neither a train/
// subfolder nor a class subfolder holding an image). split: ROOT/train is a
// directory (so a tree cannot have a class called "train"). tree: otherwise.
enum class ImageFolderLayout { none, split, tree };
ImageFolderLayout image_folder_layout(const std::string& root);

// Loads split "train" or "test" of the image folder at root: image_shape
// {1, H, W}, labels, num_classes = the number of classes, class_names. "test"
// on a tree, or on a split layout without test/, is an Error saying there is
// no test split; so are a root that is no image folder and a train folder
// without class subfolders.
Dataset load_image_folder(const std::string& root, const std::string& split,
                          const ImageFolderOptions& options = {});

}  // namespace digitnet
