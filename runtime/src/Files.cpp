//===- Files.cpp - memory maps, safetensors, npy --------------------------===//

#include "pprt/Files.h"

#include <nlohmann/json.hpp>

#include <cctype>
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
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return notFound(path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    return notFound(path + ": " + std::strerror(errno));
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
  size_t dataBytes = size - 8 - headerBytes;
  for (auto &[name, v] : header.items()) {
    if (name == "__metadata__")
      continue;
    if (!v.is_object() || !v["dtype"].is_string() || !v["shape"].is_array() ||
        !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      return dataLoss(path + ": tensor '" + name + "' has a malformed entry");
    auto dtype = parseDType(v["dtype"].get<std::string>());
    if (!dtype)
      return dtype.status().withContext(path + ": tensor '" + name + "'");
    TensorDesc desc{*dtype, v["shape"].get<std::vector<int64_t>>()};
    uint64_t begin = v["data_offsets"][0], end = v["data_offsets"][1];
    auto expected = desc.byteSize();
    if (!expected || end < begin || end > dataBytes ||
        (int64_t)(end - begin) != *expected)
      return dataLoss(path + ": tensor '" + name + "' (" + desc.toString() +
                      ") lies outside the file or has the wrong size: "
                      "truncated or corrupt");
    w.entries_[name] =
        Entry{desc, const_cast<uint8_t *>(data + begin), (int64_t)(end - begin)};
  }
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

StatusOr<HostTensor> readNpy(const std::string &path) {
  auto file = MappedFile::open(path);
  if (!file)
    return file.status();
  const uint8_t *p = (*file)->data();
  size_t size = (*file)->size();
  if (size < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0)
    return invalidArgument(path + ": not a .npy file");
  int major = p[6];
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
  if (start + headerLen > size)
    return dataLoss(path + ": truncated .npy header");
  std::string header(reinterpret_cast<const char *>(p + start), headerLen);
  auto field = [&](const std::string &key) -> std::string {
    size_t at = header.find("'" + key + "'");
    if (at == std::string::npos)
      return "";
    at = header.find(':', at) + 1;
    while (at < header.size() && header[at] == ' ')
      ++at;
    size_t end = header[at] == '(' ? header.find(')', at) + 1
                 : header[at] == '\'' ? header.find('\'', at + 1) + 1
                                      : header.find_first_of(",}", at);
    return header.substr(at, end - at);
  };
  std::string descr = field("descr"), order = field("fortran_order"),
              shape = field("shape");
  if (order.find("True") != std::string::npos)
    return invalidArgument(path + ": Fortran-ordered arrays are not supported");
  HostTensor t;
  bool known = false;
  for (const NpyType &n : kNpyTypes)
    if (descr == std::string("'") + n.descr + "'") {
      t.desc.dtype = n.dtype;
      known = true;
    }
  if (!known)
    return invalidArgument(path + ": unsupported dtype " + descr);
  for (size_t i = 1; i < shape.size();) {
    size_t j = shape.find_first_of(",)", i);
    std::string dim = shape.substr(i, j - i);
    if (dim.find_first_not_of(' ') != std::string::npos)
      t.desc.shape.push_back(std::stoll(dim));
    i = j + 1;
  }
  auto bytes = t.desc.byteSize();
  if (!bytes || start + headerLen + *bytes > size)
    return dataLoss(path + ": truncated: " + t.desc.toString() + " needs " +
                    std::to_string(bytes ? *bytes : -1) + " bytes of data");
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

StatusOr<Checkpoint> findCheckpoint(const std::string &path,
                                    const std::string &flag) {
  auto readText = [](const std::string &file, std::string &out) {
    auto f = MappedFile::open(file);
    if (!f)
      return false;
    out.assign(reinterpret_cast<const char *>((*f)->data()), (*f)->size());
    return true;
  };
  std::string dir = path, text;
  if (!readText(dir + "/checkpoint.json", text)) {
    std::string latest;
    if (!readText(path + "/latest", latest))
      return notFound(flag + path + ": no checkpoint there (neither "
                      "checkpoint.json nor latest)");
    while (!latest.empty() && std::isspace((unsigned char)latest.back()))
      latest.pop_back();
    dir = path + "/" + latest;
    if (!readText(dir + "/checkpoint.json", text))
      return notFound(flag + path + ": latest names " + latest +
                      ", which has no checkpoint.json");
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("step"))
    return dataLoss(dir + "/checkpoint.json: not a checkpoint description");
  return Checkpoint{dir, j.value("step", (int64_t)0),
                    j.value("data_position", (int64_t)0)};
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
  FILE *f = std::fopen(temp.c_str(), "wb");
  if (!f)
    return notFound(temp + ": " + std::strerror(errno));
  bool ok = std::fwrite(data, 1, size, f) == size;
  // On disk before the rename, so that the name never points at a file
  // that a crash could leave half written.
  ok &= std::fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok &= std::fclose(f) == 0;
  if (!ok)
    return internalError(temp + ": write failed");
  if (std::rename(temp.c_str(), path.c_str()) != 0)
    return internalError(path + ": " + std::strerror(errno));
  return Status::ok();
}

} // namespace pprt
