//===- Files.cpp - memory maps, safetensors, npy --------------------------===//

#include "pprt/Files.h"

#include "Json.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pprt {

StatusOr<std::shared_ptr<MappedFile>> MappedFile::open(const std::string &path) {
  // O_NONBLOCK: a FIFO named where a file should be would block open()
  // forever; it is refused below as not a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return notFound(path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return notFound(path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalidArgument(path + ": not a regular file");
  }
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = st.st_size;
  if (f->size_ > 0) {
    void *p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return internalError(path + ": mmap: " + std::strerror(errno));
    }
    f->data_ = static_cast<const uint8_t *>(p);
  }
  ::close(fd);
  return f;
}

MappedFile::~MappedFile() {
  if (data_)
    munmap(const_cast<uint8_t *>(data_), size_);
}

StatusOr<Weights> Weights::load(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  Weights w;
  w.file_ = *file;
  const uint8_t *base = w.file_->data();
  size_t size = w.file_->size();
  if (size < 8)
    return dataLoss(path + ": truncated safetensors file (" +
                    std::to_string(size) + " bytes)");
  uint64_t headerBytes = 0;
  for (int i = 7; i >= 0; --i)
    headerBytes = headerBytes << 8 | base[i];
  if (headerBytes > size - 8)
    return dataLoss(path + ": truncated safetensors file: header of " +
                    std::to_string(headerBytes) + " bytes, file of " +
                    std::to_string(size));
  nlohmann::json header = nlohmann::json::parse(
      base + 8, base + 8 + headerBytes, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return dataLoss(path + ": safetensors header is not a JSON object");
  const uint8_t *data = base + 8 + headerBytes;
  uint64_t dataBytes = size - 8 - headerBytes;
  JsonReader r(path);
  // (begin, end) of every tensor: together they must cover the data
  // exactly, as the format requires, so that a header length moved into
  // its own padding (which shifts every tensor) is caught.
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (auto &[name, v] : header.items()) {
    if (name == "__metadata__")
      continue;
    std::string where = "tensor '" + name + "'";
    std::string dtypeName = r.string(v, "dtype", "", where, true);
    std::vector<int64_t> shape =
        r.integers(v, "shape", 0, INT64_MAX, where, true);
    std::vector<int64_t> offsets =
        r.integers(v, "data_offsets", 0, INT64_MAX, where, true);
    PPRT_RETURN_IF_ERROR(r.status());
    if (offsets.size() != 2)
      return dataLoss(path + ": " + where + " has a malformed entry");
    auto dtype = parseDType(dtypeName);
    if (!dtype)
      return dtype.status().withContext(path + ": " + where);
    TensorDesc desc{*dtype, shape};
    uint64_t begin = offsets[0], end = offsets[1];
    auto expected = desc.byteSize();
    if (!expected || end < begin || end > dataBytes ||
        end - begin != (uint64_t)*expected)
      return dataLoss(path + ": " + where + " (" + desc.toString() +
                      ") lies outside the file or has the wrong size: "
                      "truncated or corrupt");
    spans.push_back({begin, end});
    uint8_t *at = const_cast<uint8_t *>(data + begin);
    // The format does not align tensors; kernels read them as their type.
    if (reinterpret_cast<uintptr_t>(at) % dtypeSize(*dtype)) {
      w.owned_.emplace_back(at, at + (end - begin));
      at = w.owned_.back().data();
    }
    w.entries_[name] = Entry{desc, at, (int64_t)(end - begin)};
  }
  std::sort(spans.begin(), spans.end());
  uint64_t covered = 0;
  for (auto [begin, end] : spans) {
    if (begin != covered)
      return dataLoss(path + ": the tensors " +
                      std::string(begin < covered ? "overlap" : "leave a gap") +
                      " at byte " + std::to_string(std::min(begin, covered)) +
                      " of the data: corrupt header");
    covered = end;
  }
  if (covered != dataBytes)
    return dataLoss(path + ": the tensors cover " + std::to_string(covered) +
                    " of " + std::to_string(dataBytes) +
                    " data bytes: corrupt header (its length or offsets)");
  return w;
}

void Weights::makeWritable() {
  for (auto &[name, e] : entries_) {
    owned_.emplace_back(e.data, e.data + e.bytes);
    e.data = owned_.back().data();
  }
  file_.reset();
}

const Weights::Entry *Weights::find(const std::string &name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

namespace {
struct NpyType {
  const char *descr;
  DType dtype;
};
constexpr NpyType kNpyTypes[] = {
    {"<f4", DType::F32}, {"<f8", DType::F64}, {"<f2", DType::F16},
    {"<i8", DType::I64}, {"<i4", DType::I32}, {"<i2", DType::I16},
    {"|i1", DType::I8},  {"|u1", DType::U8},  {"|b1", DType::Bool},
    {"<u2", DType::U16}, {"<u4", DType::U32}, {"<u8", DType::U64},
};
} // namespace

namespace {
/// The header dict of a .npy file, a Python literal such as
/// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }: parsed
/// strictly, since numpy writes exactly this form.
class NpyHeader {
public:
  explicit NpyHeader(std::string text) : t(std::move(text)) {}
  std::string descr, error;
  bool fortran = false, haveDescr = false, haveOrder = false, haveShape = false;
  std::vector<int64_t> shape;

  bool parse() {
    skip();
    if (!eat('{'))
      return fail("the header is not a dict");
    while (true) {
      skip();
      if (eat('}'))
        break;
      std::string key;
      if (!quoted(key))
        return fail("expected a quoted key");
      skip();
      if (!eat(':'))
        return fail("expected ':' after '" + key + "'");
      skip();
      if (key == "descr") {
        if (!quoted(descr))
          return fail("'descr' is not a string");
        haveDescr = true;
      } else if (key == "fortran_order") {
        if (word("True"))
          fortran = true;
        else if (!word("False"))
          return fail("'fortran_order' is not True or False");
        haveOrder = true;
      } else if (key == "shape") {
        if (!tuple())
          return false;
        haveShape = true;
      } else {
        return fail("unknown key '" + key + "'");
      }
      skip();
      if (eat(','))
        continue;
      skip();
      if (eat('}'))
        break;
      return fail("expected ',' or '}'");
    }
    skip();
    if (at != t.size())
      return fail("text after the dict");
    if (!haveDescr || !haveOrder || !haveShape)
      return fail("it lacks 'descr', 'fortran_order' or 'shape'");
    return true;
  }

private:
  bool fail(const std::string &m) {
    error = m;
    return false;
  }
  void skip() {
    while (at < t.size() && (t[at] == ' ' || t[at] == '\n'))
      ++at;
  }
  bool eat(char c) {
    if (at < t.size() && t[at] == c) {
      ++at;
      return true;
    }
    return false;
  }
  bool word(const char *w) {
    size_t n = std::strlen(w);
    if (t.compare(at, n, w) != 0)
      return false;
    at += n;
    return true;
  }
  bool quoted(std::string &out) {
    if (!eat('\''))
      return false;
    size_t end = t.find('\'', at);
    if (end == std::string::npos)
      return false;
    out = t.substr(at, end - at);
    at = end + 1;
    return true;
  }
  /// (), (n,), (a, b) or (a, b,): non-negative decimal integers that fit
  /// int64.
  bool tuple() {
    if (!eat('('))
      return fail("'shape' is not a tuple");
    while (true) {
      skip();
      if (eat(')'))
        return true;
      if (at >= t.size() || !std::isdigit((unsigned char)t[at]))
        return fail("'shape' holds something other than a size");
      int64_t d = 0;
      while (at < t.size() && std::isdigit((unsigned char)t[at])) {
        if (__builtin_mul_overflow(d, 10, &d) ||
            __builtin_add_overflow(d, t[at] - '0', &d))
          return fail("a dimension of 'shape' does not fit 64 bits");
        ++at;
      }
      // numpy writes a trailing L for longs on Python 2.
      eat('L');
      shape.push_back(d);
      if (shape.size() > 64)
        return fail("'shape' has more than 64 dimensions");
      skip();
      if (eat(','))
        continue;
      skip();
      if (eat(')'))
        return true;
      return fail("expected ',' or ')' in 'shape'");
    }
  }

  std::string t;
  size_t at = 0;
};
} // namespace

StatusOr<HostTensor> readNpy(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  const uint8_t *p = (*file)->data();
  size_t size = (*file)->size();
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0)
    return invalidArgument(path + ": not a .npy file");
  // Versions 1.0 (u16 header length), 2.0 and 3.0 (u32; 3.0 spells the
  // header in UTF-8, which for the keys read here is the same).
  int major = p[6], minor = p[7];
  if (major < 1 || major > 3 || minor != 0)
    return invalidArgument(path + ": .npy format version " +
                           std::to_string(major) + "." + std::to_string(minor) +
                           ", this reader reads 1.0, 2.0 and 3.0");
  size_t headerLen, start;
  if (major == 1) {
    headerLen = p[8] | p[9] << 8;
    start = 10;
  } else {
    if (size < 12)
      return dataLoss(path + ": truncated .npy header");
    headerLen = p[8] | p[9] << 8 | p[10] << 16 | (size_t)p[11] << 24;
    start = 12;
  }
  if (headerLen > size - start)
    return dataLoss(path + ": truncated .npy header");
  NpyHeader header(
      std::string(reinterpret_cast<const char *>(p + start), headerLen));
  if (!header.parse())
    return invalidArgument(path + ": malformed .npy header: " + header.error);
  if (header.fortran)
    return invalidArgument(path + ": Fortran-ordered arrays are not supported");
  HostTensor t;
  bool known = false;
  for (const NpyType &n : kNpyTypes)
    if (header.descr == n.descr) {
      t.desc.dtype = n.dtype;
      known = true;
    }
  if (!known)
    return invalidArgument(path + ": unsupported dtype '" + header.descr + "'");
  t.desc.shape = header.shape;
  auto bytes = t.desc.byteSize();
  if (!bytes)
    return invalidArgument(path + ": " + bytes.status().message());
  size_t dataBytes = size - start - headerLen;
  if ((uint64_t)*bytes > dataBytes)
    return dataLoss(path + ": truncated: " + t.desc.toString() + " needs " +
                    std::to_string(*bytes) + " bytes of data, the file has " +
                    std::to_string(dataBytes));
  const uint8_t *data = p + start + headerLen;
  t.bytes.assign(data, data + *bytes);
  return t;
}

Status writeNpy(const std::string &path, const HostTensor &t) {
  const char *descr = nullptr;
  for (const NpyType &n : kNpyTypes)
    if (n.dtype == t.desc.dtype)
      descr = n.descr;
  // numpy has no bfloat16: write its bits as uint16.
  if (t.desc.dtype == DType::BF16)
    descr = "<u2";
  if (!descr)
    return invalidArgument(path + ": no .npy dtype for " + t.desc.toString());
  std::string shape = "(";
  for (int64_t d : t.desc.shape)
    shape += std::to_string(d) + ",";
  if (t.desc.shape.size() > 1)
    shape.pop_back();
  shape += ")";
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64)
    header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(char(header.size() & 0xff));
  out.push_back(char(header.size() >> 8));
  out += header;
  out.append(reinterpret_cast<const char *>(t.bytes.data()), t.bytes.size());
  return writeFileAtomically(path, out.data(), out.size());
}

StatusOr<CheckpointTensors> CheckpointTensors::load(const std::string &dir) {
  CheckpointTensors c;
  DIR *d = opendir(dir.c_str());
  if (!d)
    return notFound("checkpoint " + dir + ": " + std::strerror(errno));
  while (dirent *entry = readdir(d)) {
    std::string name = entry->d_name;
    const std::string suffix = ".safetensors";
    if (name.rfind("stage", 0) != 0 || name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix))
      continue;
    auto w = Weights::load(dir + "/" + name);
    if (!w) {
      closedir(d);
      return w.status();
    }
    c.files_.push_back(std::move(*w));
  }
  closedir(d);
  if (c.files_.empty())
    return notFound("checkpoint " + dir + ": no stage<k>.safetensors files");
  return c;
}

const Weights::Entry *CheckpointTensors::find(const std::string &name) const {
  for (const Weights &w : files_)
    if (const Weights::Entry *e = w.find(name))
      return e;
  return nullptr;
}

Status writeSafetensors(const std::string &path,
                        const std::vector<NamedTensor> &tensors) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const NamedTensor &t : tensors) {
    uint64_t bytes = *t.desc.byteSize();
    header[t.name] = {{"dtype", dtypeName(t.desc.dtype)},
                      {"shape", t.desc.shape},
                      {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  while ((text.size() + 8) % 8)
    text.push_back(' ');
  std::string out;
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    out.push_back(char((n >> (8 * i)) & 0xff));
  out += text;
  out.reserve(out.size() + offset);
  for (const NamedTensor &t : tensors)
    out.append(static_cast<const char *>(t.data), *t.desc.byteSize());
  return writeFileAtomically(path, out.data(), out.size());
}

Status writeFileAtomically(const std::string &path, const void *data,
                           size_t size) {
  std::string temp = path + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    return notFound(temp + ": " + std::strerror(errno));
  // A failure names its cause (ENOSPC: "No space left on device") and
  // leaves no temporary behind.
  auto fail = [&](const char *what) {
    int saved = errno;
    if (fd >= 0)
      ::close(fd);
    ::unlink(temp.c_str());
    return internalError(temp + ": " + what + ": " + std::strerror(saved));
  };
  const char *p = static_cast<const char *>(data);
  for (size_t done = 0; done < size;) {
    ssize_t n = ::write(fd, p + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = EIO;
      return fail("write failed");
    }
    done += n;
  }
  // On disk before the rename, so that the name never points at a file
  // that a crash could leave half written.
  if (::fsync(fd) != 0)
    return fail("fsync failed");
  int closed = ::close(fd);
  fd = -1;
  if (closed != 0)
    return fail("close failed");
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    return internalError(path + ": " + std::strerror(saved));
  }
  return Status::ok();
}

} // namespace pprt
