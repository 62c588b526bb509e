// Why: the checkpoint and token-id readers are the first code to touch untrusted bytes. Every corrupt or
// lying safetensors file, sharded index or .npy file must end in one xlstm::Error that names the file and
// the problem (never a crash, an out-of-bounds read or a half-filled store); valid files must still read
// back exactly, so the rejections are not vacuous.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <sys/stat.h>

#include "common/check.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "test_support.h"

namespace xlstm {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using json = nlohmann::json;

using test::error_of;

// u64 little-endian header length, header, data.
std::string st_file(const std::string& header, const std::string& data, uint64_t declared_len = UINT64_MAX) {
  const uint64_t n = declared_len == UINT64_MAX ? header.size() : declared_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

class SafetensorsBad : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = test::make_temp_dir(); }
  void TearDown() override { test::remove_tree(dir_); }
  // Writes `bytes` to DIR/name and returns the error of reading it as a safetensors file.
  std::string read_error(const std::string& bytes, const std::string& name = "model.safetensors") {
    const std::string p = dir_ + "/" + name;
    test::write_file(p, bytes);
    return error_of([&] { TensorStore::open(p); });
  }
  // A one-tensor header {"t": entry}.
  std::string one(const json& entry, const std::string& data) {
    return read_error(st_file(json{{"t", entry}}.dump(), data));
  }
  std::string dir_;
};

TEST_F(SafetensorsBad, EmptyAndShorterThanTheLengthField) {
  EXPECT_THAT(read_error(""), AllOf(HasSubstr("truncated safetensors file"), HasSubstr("0 bytes")));
  EXPECT_THAT(read_error("\x10\x00\x00"), AllOf(HasSubstr("model.safetensors"), HasSubstr("truncated")));
  EXPECT_THAT(read_error(std::string(7, '\0')), HasSubstr("truncated safetensors file (7 bytes"));
}

TEST_F(SafetensorsBad, HeaderLengthLargerThanTheFile) {
  const std::string hdr = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  // Header cut short: the length field promises more than the file holds.
  EXPECT_THAT(read_error(st_file(hdr.substr(0, 20), "", hdr.size())), HasSubstr("exceeds the file size"));
  EXPECT_THAT(read_error(st_file(hdr, "", 1000)), HasSubstr("header length 1000 exceeds the file size"));
  EXPECT_THAT(read_error(st_file("{}", "", UINT64_MAX - 1)), HasSubstr("exceeds the file size"));
  EXPECT_THAT(read_error(st_file("{}", "", uint64_t(1) << 63)), HasSubstr("exceeds the file size"));
}

TEST_F(SafetensorsBad, HeaderCutInsideItsJson) {
  // The length field is consistent with the file, but the JSON inside it stops half-way.
  const std::string hdr = R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  EXPECT_THAT(read_error(st_file(hdr.substr(0, 25), "")), HasSubstr("invalid JSON"));
}

TEST_F(SafetensorsBad, DataSectionCut) {
  EXPECT_THAT(one({{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}, f32_bytes({1, 2})),
              AllOf(HasSubstr("tensor 't'"), HasSubstr("outside the data section (8 bytes)")));
}

TEST_F(SafetensorsBad, InvalidJsonHeader) {
  EXPECT_THAT(read_error(st_file("this is not json", "")), HasSubstr("corrupt safetensors header (invalid JSON"));
  EXPECT_THAT(read_error(st_file("{\"t\": }", "")), HasSubstr("invalid JSON"));
  EXPECT_THAT(read_error(st_file("", "")), HasSubstr("invalid JSON"));
  EXPECT_THAT(read_error(st_file("{\"\xff\xfe\": 1}", "")), HasSubstr("invalid JSON"));  // not UTF-8
}

TEST_F(SafetensorsBad, HeaderNotAnObject) {
  EXPECT_THAT(read_error(st_file("[1, 2, 3]", "")), HasSubstr("safetensors header is not a JSON object"));
  EXPECT_THAT(read_error(st_file("42", "")), HasSubstr("not a JSON object"));
  EXPECT_THAT(read_error(st_file("\"F32\"", "")), HasSubstr("not a JSON object"));
}

TEST_F(SafetensorsBad, TensorLacksDtypeShapeOrOffsets) {
  const json full = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}};
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    json e = full;
    e.erase(key);
    EXPECT_THAT(one(e, f32_bytes({1})), AllOf(HasSubstr("tensor 't'"), HasSubstr("lacks dtype, shape or data_offsets")))
        << key;
  }
  EXPECT_THAT(one(json(5), f32_bytes({1})), HasSubstr("lacks dtype, shape or data_offsets"));
  EXPECT_THAT(one(json::array({1, 2}), f32_bytes({1})), HasSubstr("lacks dtype, shape or data_offsets"));
}

TEST_F(SafetensorsBad, UnknownDtype) {
  for (const char* dt : {"I64", "F64", "I32", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    EXPECT_THAT(one({{"dtype", dt}, {"shape", {1}}, {"data_offsets", {0, 8}}}, std::string(8, '\0')),
                AllOf(HasSubstr("tensor 't'"), HasSubstr(std::string("unsupported dtype '") + dt + "'")))
        << dt;
  }
  EXPECT_THAT(one({{"dtype", 4}, {"shape", {1}}, {"data_offsets", {0, 4}}}, f32_bytes({1})),
              HasSubstr("dtype is not a string"));
}

TEST_F(SafetensorsBad, NegativeNonIntegerOrMalformedShape) {
  const auto shaped = [&](const json& shape) {
    return one({{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {0, 8}}}, f32_bytes({1, 2}));
  };
  EXPECT_THAT(shaped({-2}), AllOf(HasSubstr("tensor 't'"), HasSubstr("shape entries must be non-negative integers")));
  EXPECT_THAT(shaped({2, -1}), HasSubstr("non-negative integers"));
  EXPECT_THAT(shaped({2.5}), HasSubstr("non-negative integers"));
  EXPECT_THAT(shaped({2.0}), HasSubstr("non-negative integers"));
  EXPECT_THAT(shaped({"2"}), HasSubstr("non-negative integers"));
  EXPECT_THAT(shaped({nullptr}), HasSubstr("non-negative integers"));
  EXPECT_THAT(shaped(2), HasSubstr("bad shape"));
  EXPECT_THAT(shaped({1, 1, 1, 1, 1, 1, 1, 1, 2}), HasSubstr("bad shape"));  // more than 8 dims
  // Products that overflow 64 bits must not wrap around to the stored byte count.
  EXPECT_THAT(shaped({uint64_t(1) << 33, uint64_t(1) << 33, uint64_t(1) << 33}), HasSubstr("shape overflows"));
  EXPECT_THAT(shaped({uint64_t(1) << 62}), HasSubstr("shape overflows"));
}

TEST_F(SafetensorsBad, OffsetsOutsideTheDataSection) {
  const auto at = [&](const json& off) {
    return one({{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", off}}, f32_bytes({1, 2}));
  };
  EXPECT_THAT(at({8, 16}), HasSubstr("offsets [8, 16) lie outside the data section (8 bytes)"));
  EXPECT_THAT(at({12, 4}), HasSubstr("lie outside the data section"));  // begin > end
  EXPECT_THAT(at({0, UINT64_MAX}), HasSubstr("outside the data section"));
  EXPECT_THAT(at({-8, 0}), HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(at({0.0, 8.0}), HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(at({0}), HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(at({0, 4, 8}), HasSubstr("data_offsets must be two non-negative integers"));
  EXPECT_THAT(at("0-8"), HasSubstr("data_offsets must be two non-negative integers"));
}

TEST_F(SafetensorsBad, ByteSizeDisagreesWithShapeTimesDtype) {
  EXPECT_THAT(one({{"dtype", "F32"}, {"shape", {2, 2}}, {"data_offsets", {0, 12}}}, f32_bytes({1, 2, 3, 4})),
              AllOf(HasSubstr("tensor 't'"), HasSubstr("12 bytes stored but shape x dtype needs 16")));
  EXPECT_THAT(one({{"dtype", "BF16"}, {"shape", {4}}, {"data_offsets", {0, 16}}}, f32_bytes({1, 2, 3, 4})),
              HasSubstr("16 bytes stored but shape x dtype needs 8"));
  EXPECT_THAT(one({{"dtype", "F16"}, {"shape", {0}}, {"data_offsets", {0, 2}}}, f32_bytes({1})),
              HasSubstr("2 bytes stored but shape x dtype needs 0"));
}

TEST_F(SafetensorsBad, OverlappingTensors) {
  const json h = {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                  {"b", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}}}};
  EXPECT_THAT(read_error(st_file(h.dump(), f32_bytes({1, 2, 3}))),
              AllOf(HasSubstr("tensors 'a' and 'b' overlap")));
  const json same = {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                     {"b", {{"dtype", "BF16"}, {"shape", {4}}, {"data_offsets", {0, 8}}}}};
  EXPECT_THAT(read_error(st_file(same.dump(), f32_bytes({1, 2}))), HasSubstr("overlap"));
}

TEST_F(SafetensorsBad, FailedFileLeavesTheStoreUnchanged) {
  // A store that rejects a file must not keep tensors pointing into that file's (unmapped) bytes.
  const std::string good = dir_ + "/good.safetensors", bad = dir_ + "/bad.safetensors";
  test::write_file(good, st_file(json{{"g", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}}}.dump(),
                                 f32_bytes({7})));
  const json h = {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                  {"b", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {4, 12}}}}};
  test::write_file(bad, st_file(h.dump(), f32_bytes({1, 2, 3})));
  TensorStore st;
  st.add_file(good);
  EXPECT_THAT(error_of([&] { st.add_file(bad); }), HasSubstr("overlap"));
  EXPECT_EQ(st.size(), 1u);
  EXPECT_EQ(st.find("a"), nullptr);
  EXPECT_EQ(st.files().size(), 1u);
  EXPECT_EQ(st.names(), std::vector<std::string>{"g"});
  float v;
  std::memcpy(&v, st.get("g").data, 4);
  EXPECT_EQ(v, 7.f);
  // A duplicate name from a second file: the first file's tensor stays, nothing of the second is added.
  const std::string dup = dir_ + "/dup.safetensors";
  test::write_file(dup, st_file(json{{"c", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}},
                                     {"g", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {4, 8}}}}}
                                    .dump(),
                                f32_bytes({8, 9})));
  EXPECT_THAT(error_of([&] { st.add_file(dup); }), AllOf(HasSubstr("tensor 'g' appears twice"), HasSubstr(good)));
  EXPECT_EQ(st.size(), 1u);
  EXPECT_EQ(st.find("c"), nullptr);
  std::memcpy(&v, st.get("g").data, 4);
  EXPECT_EQ(v, 7.f);
}

TEST_F(SafetensorsBad, ValidFilesReadBackExactly) {
  // Header lengths that are not multiples of 8 leave the data misaligned: values must still be exact.
  const std::vector<float> a = {1.5f, -2.25f, 3.0f, 1e-3f, 7.f, 8.f};
  const uint16_t bf[3] = {0x3f80, 0xc000, 0x4040};  // 1, -2, 3
  const uint16_t hf[2] = {0x3c00, 0xc400};          // 1, -4
  std::string data = f32_bytes(a) + std::string(reinterpret_cast<const char*>(bf), 6) +
                     std::string(reinterpret_cast<const char*>(hf), 4);
  for (int pad = 0; pad < 4; ++pad) {
    json h = {{"__metadata__", {{"format", "pt"}}},
              {"a", {{"dtype", "F32"}, {"shape", {2, 3}}, {"data_offsets", {0, 24}}}},
              {"b", {{"dtype", "BF16"}, {"shape", {3}}, {"data_offsets", {24, 30}}}},
              {"h", {{"dtype", "F16"}, {"shape", {2, 1}}, {"data_offsets", {30, 34}}}},
              {"empty", {{"dtype", "F32"}, {"shape", {0, 5}}, {"data_offsets", {34, 34}}}}};
    const std::string p = dir_ + "/ok.safetensors";
    test::write_file(p, st_file(h.dump() + std::string(size_t(pad), ' '), data));
    TensorStore st = TensorStore::open(p);
    ASSERT_EQ(st.size(), 4u) << pad;
    EXPECT_EQ(st.get("a").shape, (std::vector<int64_t>{2, 3}));
    EXPECT_EQ(st.get("a").dtype, DType::F32);
    EXPECT_EQ(st.get("b").dtype, DType::BF16);
    EXPECT_EQ(st.get("h").dtype, DType::F16);
    EXPECT_EQ(st.get("empty").numel(), 0);
    std::vector<float> got(6);
    convert_to_f32(DType::F32, st.get("a").data, got.data(), 6);
    EXPECT_EQ(got, a);
    convert_to_f32(DType::BF16, st.get("b").data, got.data(), 3);
    EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 3), (std::vector<float>{1, -2, 3}));
    convert_to_f32(DType::F16, st.get("h").data, got.data(), 2);
    EXPECT_EQ(std::vector<float>(got.begin(), got.begin() + 2), (std::vector<float>{1, -4}));
    EXPECT_EQ(st.total_bytes(), 34u);
    EXPECT_THAT(error_of([&] { st.get("nope"); }), HasSubstr("missing tensor 'nope'"));
  }
}

// ---- directories and sharded checkpoints ---------------------------------------------------------------

class ShardedBad : public SafetensorsBad {
 protected:
  // Two shards: s1 holds x (F32 [2]), s2 holds y (F32 [3]); the index maps both.
  void write_shards() {
    test::write_file(dir_ + "/s1.safetensors",
                     st_file(json{{"x", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}}}.dump(),
                             f32_bytes({1, 2})));
    test::write_file(dir_ + "/s2.safetensors",
                     st_file(json{{"y", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 12}}}}}.dump(),
                             f32_bytes({3, 4, 5})));
  }
  void write_index(const json& weight_map) {
    test::write_file(dir_ + "/model.safetensors.index.json",
                     json{{"metadata", {{"total_size", 20}}}, {"weight_map", weight_map}}.dump());
  }
  std::string open_error() {
    return error_of([&] { TensorStore::open(dir_); });
  }
};

TEST_F(ShardedBad, ValidShardsOpen) {
  write_shards();
  write_index({{"x", "s1.safetensors"}, {"y", "s2.safetensors"}});
  TensorStore st = TensorStore::open(dir_);
  EXPECT_EQ(st.size(), 2u);
  EXPECT_EQ(st.files().size(), 2u);
  EXPECT_EQ(st.get("y").numel(), 3);
}

TEST_F(ShardedBad, MissingShard) {
  write_shards();
  write_index({{"x", "s1.safetensors"}, {"y", "s2.safetensors"}, {"z", "s3.safetensors"}});
  EXPECT_THAT(open_error(), AllOf(HasSubstr("missing shard"), HasSubstr("s3.safetensors"),
                                  HasSubstr("model.safetensors.index.json")));
}

TEST_F(ShardedBad, DuplicateNamesAcrossShards) {
  write_shards();
  test::write_file(dir_ + "/s2.safetensors",
                   st_file(json{{"y", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {0, 4}}}},
                                {"x", {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {4, 8}}}}}
                               .dump(),
                           f32_bytes({3, 4})));
  write_index({{"x", "s1.safetensors"}, {"y", "s2.safetensors"}});
  EXPECT_THAT(open_error(), AllOf(HasSubstr("tensor 'x' appears twice"), HasSubstr("s1.safetensors"),
                                  HasSubstr("s2.safetensors")));
}

TEST_F(ShardedBad, IndexJsonInvalid) {
  write_shards();
  test::write_file(dir_ + "/model.safetensors.index.json", "{\"weight_map\": {\"x\": ");
  EXPECT_THAT(open_error(), AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr("invalid JSON")));
  test::write_file(dir_ + "/model.safetensors.index.json", "");
  EXPECT_THAT(open_error(), HasSubstr("invalid JSON"));
  test::write_file(dir_ + "/model.safetensors.index.json", "[]");
  EXPECT_THAT(open_error(), HasSubstr("missing object 'weight_map'"));
  test::write_file(dir_ + "/model.safetensors.index.json", R"({"metadata": {}})");
  EXPECT_THAT(open_error(), HasSubstr("missing object 'weight_map'"));
  write_index(json::array({"s1.safetensors"}));
  EXPECT_THAT(open_error(), HasSubstr("missing object 'weight_map'"));
  write_index(json::object());
  EXPECT_THAT(open_error(), HasSubstr("weight_map is empty"));
  write_index({{"x", 1}});
  EXPECT_THAT(open_error(), HasSubstr("weight_map['x'] is not a file name"));
  write_index({{"x", "../s1.safetensors"}});
  EXPECT_THAT(open_error(), HasSubstr("must be a plain file name"));
  write_index({{"x", "/etc/passwd"}});
  EXPECT_THAT(open_error(), HasSubstr("must be a plain file name"));
}

TEST_F(ShardedBad, TensorListedInIndexButAbsentFromItsShard) {
  write_shards();
  write_index({{"x", "s1.safetensors"}, {"y", "s2.safetensors"}, {"w", "s2.safetensors"}});
  EXPECT_THAT(open_error(), AllOf(HasSubstr("tensor 'w' listed in"), HasSubstr("is not in shard 's2.safetensors'")));
  write_index({{"x", "s2.safetensors"}, {"y", "s2.safetensors"}});  // x is really in s1 (not listed at all)
  EXPECT_THAT(open_error(), AllOf(HasSubstr("tensor 'x' listed in"), HasSubstr("is not in shard 's2.safetensors'")));
  write_index({{"x", "s2.safetensors"}, {"y", "s1.safetensors"}});  // both listed, each in the other
  EXPECT_THAT(open_error(), AllOf(HasSubstr("tensor 'x' is in"), HasSubstr("s1.safetensors"), HasSubstr("says")));
}

TEST_F(ShardedBad, CorruptShardIsNamed) {
  write_shards();
  test::write_file(dir_ + "/s2.safetensors", "xx");
  write_index({{"x", "s1.safetensors"}, {"y", "s2.safetensors"}});
  EXPECT_THAT(open_error(), AllOf(HasSubstr("s2.safetensors"), HasSubstr("truncated")));
}

TEST_F(ShardedBad, NoWeightsAtAll) {
  EXPECT_THAT(open_error(), AllOf(HasSubstr("no weights in"), HasSubstr(dir_),
                                  HasSubstr("model.safetensors or model.safetensors.index.json")));
  write_shards();  // shards present, but neither index nor model.safetensors
  EXPECT_THAT(open_error(), HasSubstr("no weights in"));
  EXPECT_THAT(error_of([&] { TensorStore::open(dir_ + "/nope"); }), HasSubstr("no weights in"));
  EXPECT_THAT(error_of([&] { TensorStore::open(dir_ + "/nope.safetensors"); }),
              AllOf(HasSubstr("cannot open"), HasSubstr("nope.safetensors")));
  ::mkdir((dir_ + "/d.safetensors").c_str(), 0755);
  EXPECT_THAT(error_of([&] { TensorStore::open(dir_ + "/d.safetensors"); }), HasSubstr("is not a regular file"));
  ::mkdir((dir_ + "/sub").c_str(), 0755);
  ::mkdir((dir_ + "/sub/model.safetensors").c_str(), 0755);
  EXPECT_THAT(error_of([&] { TensorStore::open(dir_ + "/sub"); }), HasSubstr("is not a regular file"));
}

// ---- .npy token ids -------------------------------------------------------------------------------------

// A version-1 .npy file with a raw header dict and data.
std::string npy_file(const std::string& dict, const std::string& data) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += char(1), out += char(0), out += char(h.size() & 0xff), out += char(h.size() >> 8);
  return out + h + data;
}

std::string i64_bytes(const std::vector<int64_t>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 8);
}

class NpyBad : public SafetensorsBad {
 protected:
  std::string ids_error(const std::string& bytes) {
    const std::string p = dir_ + "/ids.npy";
    test::write_file(p, bytes);
    return error_of([&] { read_npy_ids(p); });
  }
};

TEST_F(NpyBad, RoundTripAndValidIds) {
  const std::string p = dir_ + "/ids.npy";
  write_npy_i64(p, {0, 5, 60, 2});
  EXPECT_EQ(read_npy_ids(p), (std::vector<int32_t>{0, 5, 60, 2}));
  test::write_file(p, npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 3), }",
                               std::string("\x01\0\0\0\x02\0\0\0\x03\0\0\0", 12)));
  EXPECT_EQ(read_npy_ids(p), (std::vector<int32_t>{1, 2, 3}));
  test::write_file(p, npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (0,), }", ""));
  EXPECT_TRUE(read_npy_ids(p).empty());
  const std::vector<float> f = {1.5f, -2.f, 3.25f, 4.f, 5.f, 6.f};
  write_npy_f32(p, f.data(), {2, 3});
  std::vector<int64_t> shape;
  EXPECT_EQ(read_npy_f32(p, &shape), f);
  EXPECT_EQ(shape, (std::vector<int64_t>{2, 3}));
}

TEST_F(NpyBad, NotAnNpyFile) {
  EXPECT_THAT(ids_error("1,2,3\n"), AllOf(HasSubstr("ids.npy"), HasSubstr("not a .npy file")));
  EXPECT_THAT(ids_error(""), HasSubstr("not a .npy file"));
  EXPECT_THAT(ids_error("\x93NUMPY"), HasSubstr("not a .npy file"));
  EXPECT_THAT(ids_error(std::string("\x93NUMPY\x07\x00\x10\x00", 10)), HasSubstr("unsupported .npy version 7"));
  EXPECT_THAT(error_of([&] { read_npy_ids(dir_ + "/missing.npy"); }),
              AllOf(HasSubstr("cannot open"), HasSubstr("missing.npy")));
}

TEST_F(NpyBad, TruncatedHeaderOrData) {
  const std::string ok = npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i64_bytes({1, 2, 3}));
  EXPECT_THAT(ids_error(ok.substr(0, 30)), HasSubstr("truncated .npy header"));
  EXPECT_THAT(ids_error(ok.substr(0, ok.size() - 1)), HasSubstr("truncated .npy data (3 elements expected)"));
  std::string v2 = "\x93NUMPY";
  v2 += char(2), v2 += char(0), v2 += std::string("\xff\xff\xff\x7f", 4);
  EXPECT_THAT(ids_error(v2), HasSubstr("truncated .npy header"));
}

TEST_F(NpyBad, HeaderMissingFieldsOrUnsupported) {
  EXPECT_THAT(ids_error(npy_file("{'fortran_order': False, 'shape': (1,), }", i64_bytes({1}))), HasSubstr("lacks descr"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<i8', 'fortran_order': False, }", i64_bytes({1}))), HasSubstr("lacks shape"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<i8', 'fortran_order': True, 'shape': (1,), }", i64_bytes({1}))),
              HasSubstr("Fortran-order"));
  for (const char* dt : {"<i2", ">i8", "|u1", "<u8", "<c8", "|b1", "<U3"})
    EXPECT_THAT(ids_error(npy_file(std::string("{'descr': '") + dt + "', 'fortran_order': False, 'shape': (1,), }",
                                   i64_bytes({1}))),
                HasSubstr(std::string("unsupported .npy dtype '") + dt + "'"))
        << dt;
}

TEST_F(NpyBad, HugeOrNegativeShapeIsAnErrorNotAnAllocation) {
  const auto with_shape = [&](const std::string& shape) {
    return ids_error(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': " + shape + ", }", i64_bytes({1, 2})));
  };
  // Products that wrap around 64 bits would otherwise pass the size check with a tiny file.
  EXPECT_THAT(with_shape("(4294967296, 536870912)"), HasSubstr("truncated .npy data"));  // 2^61 x 8 bytes = 2^64
  EXPECT_THAT(with_shape("(2305843009213693953,)"), AllOf(HasSubstr("ids.npy"), HasSubstr("shape")));  // 2^61 + 1
  EXPECT_THAT(with_shape("(4294967296, 4294967296)"), AllOf(HasSubstr("ids.npy"), HasSubstr("too large")));
  EXPECT_THAT(with_shape("(99999999999999999999999,)"), AllOf(HasSubstr("ids.npy"), HasSubstr("too large")));
  EXPECT_THAT(with_shape("(-2,)"), AllOf(HasSubstr("ids.npy"), HasSubstr("bad .npy shape")));
  EXPECT_THAT(with_shape("(2.5,)"), HasSubstr("bad .npy shape"));
  EXPECT_EQ(with_shape("(2,)"), "(no error thrown)");  // control: 2 ids fit
}

TEST_F(NpyBad, IdsMustBeOneDimensionalIntegers) {
  EXPECT_THAT(ids_error(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32_bytes({1, 2}))),
              HasSubstr("token ids must be int32 or int64, not <f4"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'))),
              HasSubstr("token ids must be int32 or int64, not <f8"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", i64_bytes({1, 2, 3, 4}))),
              HasSubstr("token ids must be a 1-D array"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", i64_bytes({1}))),
              HasSubstr("1-D"));
  EXPECT_THAT(ids_error(npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                                 i64_bytes({1, int64_t(1) << 40}))),
              HasSubstr("token id 1099511627776 does not fit in int32"));
}

}  // namespace
}  // namespace xlstm
