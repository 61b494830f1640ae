// Writes the checked-in corpus of malformed IngestService requests (tests/data/malformed/) and the
// fuzzer's valid seeds (fuzz/corpus/). Each corpus file is a raw request body: the bytes of a
// serialized sonar.v1.IngestRequest, or deliberately broken bytes. The MANIFEST written beside
// them says what the server must answer. Deterministic: rerunning gives the same bytes.
//
//   sonar-make-malformed-corpus tests/data/malformed fuzz/corpus
//
// The leak markers below are also in tests/fault/malformed_test.cc, which checks that none of
// them ever appears in a status message, a response or the server's log.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "sonar/v1/ingest.pb.h"

namespace {

using sonar::v1::Event;
using sonar::v1::IngestRequest;

// 2022-05-01T10:00:00Z, inside every municipality's validity used below.
constexpr int64_t kMay2022 = 1651399200;
constexpr const char* kSource = "malformed";

// Values that must never be echoed (kept in sync with tests/fault/malformed_test.cc).
constexpr const char* kRefMarker = "ZZLEAKREF";    // inside client refs
constexpr const char* kMuniMarker = "ZZLEAKMUNI";  // an unknown municipality code
constexpr const char* kBsn = "123456782";          // BSN-like client refs
constexpr const char* kBsnDotted = "111.222.333";

// MANIFEST tail of a body protobuf cannot parse: the service answers INVALID_ARGUMENT with the
// reason "request body is not a valid sonar.v1.IngestRequest".
constexpr const char* kUndecodable = "INVALID_ARGUMENT undecodable";

struct Item {
  std::string file;
  std::string bytes;
  std::string expected;  // MANIFEST tail: grpc code [per-event codes, or "undecodable"]
  std::string comment;
};

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}

std::string Tag(int field, int wire_type) {
  return Varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}

std::string LengthDelimited(int field, const std::string& payload) {
  return Tag(field, 2) + Varint(payload.size()) + payload;
}

// A valid event of file `prefix`, number `n`: a person entering the target group in Borsele.
Event Valid(const std::string& prefix, int n) {
  Event e;
  e.set_event_id(prefix + "-" + std::to_string(n));
  e.set_source(kSource);
  e.set_client_ref("MalformedCorpusPerson" + std::to_string(1000 + n));
  e.mutable_occurred_at()->set_seconds(kMay2022 + n);
  e.mutable_target_group_entered()->set_municipality_code("GM0654");
  return e;
}

std::string Serialize(const IngestRequest& r) {
  std::string out;
  if (!r.SerializeToString(&out)) {
    std::cerr << "cannot serialize\n";
    std::exit(1);
  }
  return out;
}

bool Parses(const std::string& bytes) {
  IngestRequest r;
  return r.ParseFromString(bytes);
}

// `bytes` with `placeholder` (which must occur once) replaced by `with`.
std::string Replace(std::string bytes, const std::string& placeholder, const std::string& with) {
  const size_t at = bytes.find(placeholder);
  if (at == std::string::npos || bytes.find(placeholder, at + 1) != std::string::npos ||
      with.size() != placeholder.size()) {
    std::cerr << "placeholder " << placeholder << " not found once\n";
    std::exit(1);
  }
  return bytes.replace(at, placeholder.size(), with);
}

std::vector<Item> Build() {
  std::vector<Item> items;
  auto add = [&](std::string file, std::string bytes, std::string expected, std::string comment) {
    items.push_back({std::move(file), std::move(bytes), std::move(expected), std::move(comment)});
  };

  // --- request shape ---------------------------------------------------------------------------
  add("empty.bin", "", "INVALID_ARGUMENT", "zero bytes: a request without events");
  {
    IngestRequest r;
    r.set_batch_id(7);
    add("batch-id-only.bin", Serialize(r), "INVALID_ARGUMENT", "batch_id but no events");
  }

  // --- undecodable bodies ----------------------------------------------------------------------
  {
    std::mt19937 rng(20240601);
    for (size_t size : {4096u, 64u}) {
      // The first seed whose bytes do not parse (random bytes almost never do).
      std::string bytes;
      do {
        bytes.clear();
        for (size_t i = 0; i < size; ++i) bytes.push_back(static_cast<char>(rng() & 0xFF));
      } while (Parses(bytes));
      add("random-" + std::to_string(size) + ".bin", bytes, kUndecodable,
          std::to_string(size) + " random bytes");
    }
  }
  {
    IngestRequest r;
    r.set_batch_id(1);
    for (int i = 0; i < 3; ++i) *r.add_events() = Valid("truncated", i);
    const std::string whole = Serialize(r);
    add("truncated-mid-event.bin", whole.substr(0, whole.size() - 20), kUndecodable,
        "a valid 3-event request cut 20 bytes short (inside the last event)");
    add("truncated-varint.bin", Tag(1, 0) + "\xFF\xFF", kUndecodable,
        "batch_id varint that never ends");
  }
  add("bad-wire-type.bin", Tag(2, 7) + "xyz", kUndecodable,
      "field 2 with wire type 7 (no such type)");
  add("length-overflow.bin", Tag(2, 2) + Varint(0xFFFFFFFFFull) + "abc", kUndecodable,
      "events field claiming 64 GiB");
  add("end-group-without-start.bin", Tag(2, 4), kUndecodable, "an END_GROUP tag with no group");
  {
    // Unknown groups are parsed recursively: 200 levels, beyond protobuf's recursion limit (100).
    std::string bytes;
    for (int i = 0; i < 200; ++i) bytes += Tag(99, 3);
    for (int i = 0; i < 200; ++i) bytes += Tag(99, 4);
    add("deep-nesting.bin", bytes, kUndecodable,
        "200 nested groups of unknown field 99 (protobuf's recursion limit is 100)");
  }
  {
    // proto3 strings must be UTF-8: protobuf refuses to parse these.
    IngestRequest r;
    Event e = Valid("utf8", 0);
    e.set_client_ref(std::string("ZZUTF8PLACEHOLDER1") + kRefMarker);
    *r.add_events() = e;
    add("invalid-utf8-client-ref.bin",
        Replace(Serialize(r), "ZZUTF8PLACEHOLDER1",
                "\xC3\x28\xA0\xA1\xE2\x28\xA1\xF0\x28\x8C\xBC"
                "ZZUT8X1"),
        kUndecodable, "client_ref with invalid UTF-8 bytes (C3 28, A0 A1, ...)");
    Event f = Valid("utf8", 1);
    f.set_event_id("ZZUTF8PLACEHOLDER2");
    IngestRequest r2;
    *r2.add_events() = f;
    add("invalid-utf8-event-id.bin",
        Replace(Serialize(r2), "ZZUTF8PLACEHOLDER2",
                "\xFF\xFE\xFD"
                "ZZUTF8PLACEHOL2"),
        kUndecodable, "event_id with bytes FF FE FD");
    Event g = Valid("utf8", 2);
    g.mutable_target_group_entered()->set_municipality_code("ZZUTF8PLACEHOLDER3");
    IngestRequest r3;
    *r3.add_events() = g;
    add("invalid-utf8-municipality.bin",
        Replace(Serialize(r3), "ZZUTF8PLACEHOLDER3",
                "GM\xED\xA0\x80"
                "ZZUTF8PLACEH3"),
        kUndecodable, "municipality_code with an encoded surrogate (ED A0 80)");
  }

  // --- decodable, tolerated --------------------------------------------------------------------
  {
    IngestRequest r;
    r.set_batch_id(3);
    *r.add_events() = Valid("unknown-fields", 0);
    std::string bytes = Serialize(r);
    // Unknown fields at the top level and inside the event are skipped (forward compatibility).
    Event e = Valid("unknown-fields", 1);
    std::string event =
        e.SerializeAsString() + Tag(99, 0) + Varint(12345) + LengthDelimited(100, "future");
    bytes += LengthDelimited(2, event) + Tag(77, 5) + std::string("\x01\x02\x03\x04", 4);
    add("unknown-fields.bin", bytes, "OK ok ok", "unknown fields 77, 99, 100 are ignored");
  }

  // --- per-event rejections --------------------------------------------------------------------
  {
    IngestRequest r;
    Event e = Valid("no-kind", 0);
    e.clear_kind();
    *r.add_events() = e;
    Event bare;
    bare.set_event_id("no-kind-1");
    bare.set_source(kSource);
    bare.set_client_ref(std::string("MalformedCorpus") + kRefMarker + "01");
    bare.mutable_occurred_at()->set_seconds(kMay2022);
    *r.add_events() = bare;
    add("missing-oneof.bin", Serialize(r), "OK missing_kind missing_kind",
        "events without any kind in the oneof");
  }
  {
    IngestRequest r;
    Event a = Valid("enum", 0);
    a.mutable_client_registered()->set_municipality_code("GM0654");
    a.mutable_client_registered()->set_registrant(static_cast<sonar::v1::Registrant>(7));
    Event b = Valid("enum", 1);
    b.mutable_client_registered()->set_municipality_code("GM0654");
    b.mutable_client_registered()->set_registrant(static_cast<sonar::v1::Registrant>(-1));
    Event c = Valid("enum", 2);
    c.mutable_client_registered()->set_municipality_code("GM0654");  // UNSPECIFIED
    Event d = Valid("enum", 3);
    d.mutable_registrant_changed()->set_registrant(static_cast<sonar::v1::Registrant>(1000000));
    for (const Event* e : {&a, &b, &c, &d}) *r.add_events() = *e;
    add("unknown-enum.bin", Serialize(r),
        "OK invalid_registrant invalid_registrant invalid_registrant invalid_registrant",
        "registrant 7, -1, 0 (unspecified), 1000000");
  }
  {
    IngestRequest r;
    Event none = Valid("ts", 0);
    none.clear_occurred_at();
    Event big = Valid("ts", 1);
    big.mutable_occurred_at()->set_seconds(253402300800);  // 10000-01-01
    Event small = Valid("ts", 2);
    small.mutable_occurred_at()->set_seconds(INT64_MIN);
    Event neg_nanos = Valid("ts", 3);
    neg_nanos.mutable_occurred_at()->set_nanos(-1);
    Event big_nanos = Valid("ts", 4);
    big_nanos.mutable_occurred_at()->set_nanos(1'000'000'000);
    Event early = Valid("ts", 5);
    early.mutable_occurred_at()->set_seconds(1420066799);  // 2014-12-31T22:59:59Z = 23:59:59 CET
    Event future = Valid("ts", 6);
    future.mutable_occurred_at()->set_seconds(253402300799);  // 9999-12-31T23:59:59Z
    Event epoch = Valid("ts", 7);
    epoch.mutable_occurred_at()->set_seconds(0);
    Event max_int = Valid("ts", 8);
    max_int.mutable_occurred_at()->set_seconds(INT64_MAX);
    for (const Event* e :
         {&none, &big, &small, &neg_nanos, &big_nanos, &early, &future, &epoch, &max_int}) {
      *r.add_events() = *e;
    }
    add("timestamps-out-of-range.bin", Serialize(r),
        "OK missing_occurred_at invalid_occurred_at invalid_occurred_at invalid_occurred_at "
        "invalid_occurred_at occurred_at_too_early occurred_at_in_future occurred_at_too_early "
        "invalid_occurred_at",
        "no timestamp, year 10000, INT64_MIN s, nanos -1, nanos 1e9, 2014-12-31 23:59:59 "
        "Amsterdam, 9999-12-31, 1970, INT64_MAX s");
  }
  {
    IngestRequest r;
    Event a = Valid("muni", 0);
    a.mutable_target_group_entered()->set_municipality_code("GM9999");
    Event b = Valid("muni", 1);
    b.mutable_client_moved()->set_municipality_code(kMuniMarker);
    Event c = Valid("muni", 2);
    c.mutable_target_group_entered()->set_municipality_code("");
    Event d = Valid("muni", 3);
    d.mutable_client_registered()->set_municipality_code("gm0654");
    d.mutable_client_registered()->set_registrant(sonar::v1::REGISTRANT_UWV);
    Event e = Valid("muni", 4);  // Appingedam, merged into Eemsdelta on 2021-01-01
    e.mutable_target_group_entered()->set_municipality_code("GM0003");
    Event f = Valid("muni", 5);  // Eemsdelta, from 2021-01-01
    f.mutable_client_moved()->set_municipality_code("GM1979");
    f.mutable_occurred_at()->set_seconds(1462096800);  // 2016-05-01
    for (const Event* x : {&a, &b, &c, &d, &e, &f}) *r.add_events() = *x;
    add("unknown-municipality.bin", Serialize(r),
        "OK unknown_municipality unknown_municipality unknown_municipality unknown_municipality "
        "municipality_not_valid municipality_not_valid",
        "GM9999, a marker code, empty, lower case; GM0003 after its merger, GM1979 before it "
        "existed");
  }
  {
    IngestRequest r;
    int n = 0;
    for (std::string ref : {std::string(kBsn), std::string(kBsnDotted), std::string("12345678"),
                            std::string("9876 543 21"), std::string("\t123-456-782 ")}) {
      Event e = Valid("bsn", n++);
      e.set_client_ref(ref);
      *r.add_events() = e;
    }
    add("bsn-like-refs.bin", Serialize(r),
        "OK probable_bsn probable_bsn probable_bsn probable_bsn probable_bsn",
        "client refs of 8 or 9 digits, with and without separators");
  }
  {
    IngestRequest r;
    int n = 0;
    for (std::string ref : {std::string(""), std::string("short"),
                            std::string("Pseudonym with ") + kRefMarker + " spaces!",
                            std::string(200, 'A') + kRefMarker,
                            std::string("Valid") + kRefMarker +
                                "\x01\x02"
                                "0123456789"}) {
      Event e = Valid("ref", n++);
      e.set_client_ref(ref);
      *r.add_events() = e;
    }
    add("invalid-client-ref.bin", Serialize(r),
        "OK invalid_client_ref invalid_client_ref invalid_client_ref invalid_client_ref "
        "invalid_client_ref",
        "empty, short, spaces, 209 characters, control bytes (refs carry a marker)");
  }
  {
    IngestRequest r;
    Event a = Valid("ids", 0);
    a.set_event_id("");
    Event b = Valid("ids", 1);
    b.set_event_id("ids-\x01-ctl");
    Event c = Valid("ids", 2);
    c.set_event_id(std::string(129, 'x'));
    Event d = Valid("ids", 3);
    d.set_source("Upper Case");
    Event e = Valid("ids", 4);
    e.set_source("");
    Event f = Valid("ids", 5);
    f.set_source(std::string(65, 's'));
    Event g = Valid("ids", 6);
    g.set_event_id("ids-6-\xC3\xA9");  // valid UTF-8, not ASCII
    for (const Event* x : {&a, &b, &c, &d, &e, &f, &g}) *r.add_events() = *x;
    add("invalid-identifiers.bin", Serialize(r),
        "OK invalid_event_id invalid_event_id invalid_event_id invalid_source invalid_source "
        "invalid_source invalid_event_id",
        "event_id empty, control byte, 129 chars, non-ASCII; source upper case, empty, 65 chars");
  }
  {
    IngestRequest r;
    r.set_batch_id(UINT64_MAX);
    *r.add_events() = Valid("mixed", 0);
    Event bsn = Valid("mixed", 1);
    bsn.set_client_ref(kBsn);
    *r.add_events() = bsn;
    *r.add_events() = Valid("mixed", 2);
    Event conflict = Valid("mixed", 0);  // same key as event 0, other content
    conflict.mutable_occurred_at()->set_seconds(kMay2022 + 100);
    *r.add_events() = conflict;
    *r.add_events() = Valid("mixed", 2);  // repeated in the batch: a duplicate
    add("mixed-valid-and-invalid.bin", Serialize(r), "OK ok probable_bsn ok conflict duplicate",
        "valid events around a BSN, an in-batch conflict and an in-batch duplicate; batch_id "
        "2^64-1");
  }
  return items;
}

std::vector<std::pair<std::string, std::string>> Seeds() {
  std::vector<std::pair<std::string, std::string>> seeds;
  IngestRequest one;
  one.set_batch_id(1);
  *one.add_events() = Valid("seed", 0);
  seeds.emplace_back("valid-one-event.bin", Serialize(one));
  IngestRequest kinds;
  kinds.set_batch_id(2);
  for (int k = 0; k < 8; ++k) {
    Event e = Valid("seed-kind", k);
    switch (k) {
      case 0:
        e.mutable_client_registered()->set_municipality_code("GM0654");
        e.mutable_client_registered()->set_registrant(sonar::v1::REGISTRANT_GEMEENTE);
        break;
      case 1:
        e.mutable_client_deregistered();
        break;
      case 2:
        e.mutable_profile_completed();
        break;
      case 3:
        e.mutable_profile_withdrawn();
        break;
      case 4:
        e.mutable_registrant_changed()->set_registrant(sonar::v1::REGISTRANT_UWV);
        break;
      case 5:
        e.mutable_client_moved()->set_municipality_code("GM0664");
        break;
      case 6:
        break;  // target_group_entered
      case 7:
        e.mutable_target_group_left();
        break;
    }
    *kinds.add_events() = e;
  }
  seeds.emplace_back("valid-every-kind.bin", Serialize(kinds));
  return seeds;
}

void Write(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "cannot write " << path << "\n";
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " CORPUS_DIR SEED_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1], seed_dir = argv[2];
  google::protobuf::SetLogHandler(nullptr);  // the self-check's invalid UTF-8 is expected
  std::filesystem::create_directories(dir);
  std::filesystem::create_directories(seed_dir);
  std::ostringstream manifest;
  manifest << "# Malformed IngestService requests: one raw request body (serialized\n"
              "# sonar.v1.IngestRequest, or broken bytes) per file, written by\n"
              "# fuzz/make_corpus.cc (sonar-make-malformed-corpus), sent by\n"
              "# tests/fault/malformed_test.cc to IngestService.IngestBatch and .Ingest.\n"
              "#\n"
              "# file  expected-grpc-code  [expected outcome of each event, in order]\n"
              "#   ok = accepted, duplicate = repeated in the batch, anything else = the\n"
              "#   rejection code; \"undecodable\" = a body protobuf cannot parse. Lines\n"
              "#   starting with @ are generated by the test (too large to check in).\n"
              "#\n"
              "# sonar-ingest parses request bodies itself (raw methods), so an undecodable\n"
              "# body gets INVALID_ARGUMENT \"request body is not a valid\n"
              "# sonar.v1.IngestRequest\" on IngestBatch, and on the Ingest stream after the\n"
              "# acks of the batches before it. Every code is the same on both RPCs.\n"
              "\n";
  for (const Item& item : Build()) {
    // Self-check: a body expected to be undecodable must not parse, every other body must.
    if (Parses(item.bytes) == (item.expected == kUndecodable)) {
      std::cerr << item.file << ": protobuf parses it " << (Parses(item.bytes) ? "" : "not ")
                << "as expected by " << item.expected << "\n";
      return 1;
    }
    Write(dir / item.file, item.bytes);
    manifest << "# " << item.comment << "\n" << item.file << " " << item.expected << "\n";
  }
  manifest << "# 17 MiB body (over the server's 16 MiB max receive size)\n"
              "@oversize-17MiB RESOURCE_EXHAUSTED\n"
              "# 100,000 valid events in one batch (over --max-batch-events, 10,000 by default)\n"
              "@events-100000 INVALID_ARGUMENT\n"
              "# 10,001 valid events: one over the limit\n"
              "@events-10001 INVALID_ARGUMENT\n";
  Write(dir / "MANIFEST", manifest.str());
  for (const auto& [name, bytes] : Seeds()) Write(seed_dir / name, bytes);
  std::cout << "wrote " << dir.string() << " and " << seed_dir.string() << "\n";
  return 0;
}
