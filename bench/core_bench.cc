// Google Benchmark for the pure core's per-event hot functions, so that a regression in them
// shows without a database: the state transition (ApplyEvent, FoldHistory), the cell (CellOf,
// PlacementOf), the delta of a batch on one person (AddHistoryChange on a typical 5-event
// history), the quarter of an instant, validation, and the history codec the write path runs
// twice per touched person; and the read path's per-request work on the in-memory model (the
// cumulative rows of a quarter at national scale, mapped onto the municipality layout).
//
//   build/bin/sonar_core_bench                       # all
//   build/bin/sonar_core_bench --benchmark_filter=AddHistoryChange
#include <benchmark/benchmark.h>

#include <vector>

#include "core/client_state.h"
#include "core/counts_model.h"
#include "core/figures.h"
#include "core/reference_data.h"
#include "core/validation.h"
#include "storage/history_codec.h"

namespace {

using namespace sonar;
using core::Event;
using core::EventKind;

core::Instant At(int y, int m, int d) {
  using namespace std::chrono;
  return core::Instant{sys_days{year{y} / m / d}} + hours{10};
}

Event Make(EventKind kind, core::Instant at, const char* id, const char* code = "",
           core::Registrant r = core::Registrant::kUnspecified) {
  Event e;
  e.source = kind == EventKind::kTargetGroupEntered || kind == EventKind::kTargetGroupLeft
                 ? "doelgroepregister"
                 : "sonar";
  e.event_id = id;
  e.client_ref = "Q2xpZW50UHNldWRvbnltMQ";
  e.occurred_at = at;
  e.kind = kind;
  e.municipality_code = code;
  e.registrant = r;
  return e;
}

// A typical person: in the register, registered by the municipality, profile, moved, and
// (the event a batch adds) a change of registrant.
std::vector<Event> History() {
  return {
      Make(EventKind::kTargetGroupEntered, At(2019, 3, 4), "ev-1", "GM0654"),
      Make(EventKind::kClientRegistered, At(2020, 1, 15), "ev-2", "GM0654",
           core::Registrant::kGemeente),
      Make(EventKind::kProfileCompleted, At(2020, 6, 2), "ev-3"),
      Make(EventKind::kClientMoved, At(2021, 11, 20), "ev-4", "GM0687"),
      Make(EventKind::kRegistrantChanged, At(2022, 8, 9), "ev-5", "", core::Registrant::kUwv),
  };
}

void BM_ApplyEvent(benchmark::State& state) {
  const std::vector<Event> h = History();
  for (auto _ : state) {
    core::ClientState s;
    for (const Event& e : h) core::ApplyEvent(e, s);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(h.size()));
}
BENCHMARK(BM_ApplyEvent);

void BM_FoldHistory(benchmark::State& state) {
  std::vector<Event> h = History();
  std::swap(h[1], h[3]);  // arrival order differs from event-time order
  for (auto _ : state) benchmark::DoNotOptimize(core::FoldHistory(h));
}
BENCHMARK(BM_FoldHistory);

void BM_CellOf(benchmark::State& state) {
  const core::ClientState s = core::FoldHistory(History());
  for (auto _ : state) {
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(core::CellOf(s));
  }
}
BENCHMARK(BM_CellOf);

void BM_PlacementOf(benchmark::State& state) {
  const core::ClientState s = core::FoldHistory(History());
  for (auto _ : state) benchmark::DoNotOptimize(core::PlacementOf(s));
}
BENCHMARK(BM_PlacementOf);

void BM_SortHistory(benchmark::State& state) {
  const std::vector<Event> h = History();
  for (auto _ : state) {
    std::vector<Event> copy = h;
    std::swap(copy[0], copy[4]);
    core::SortHistory(copy);
    benchmark::DoNotOptimize(copy);
  }
}
BENCHMARK(BM_SortHistory);

// What the batch processor does per person: the delta between the 4-event history before and
// the 5-event history after the batch.
void BM_AddHistoryChange(benchmark::State& state) {
  const std::vector<Event> after = History();
  const std::vector<Event> before(after.begin(), after.end() - 1);
  for (auto _ : state) {
    core::QuarterDeltas q;
    core::LiveDeltas l;
    core::AddHistoryChange(before, after, q, l);
    benchmark::DoNotOptimize(q);
    benchmark::DoNotOptimize(l);
  }
}
BENCHMARK(BM_AddHistoryChange);

// A late event: lands before the others, so every later step's quarter delta changes.
void BM_AddHistoryChangeLate(benchmark::State& state) {
  std::vector<Event> after = History();
  const std::vector<Event> before(after.begin() + 1, after.end());
  for (auto _ : state) {
    core::QuarterDeltas q;
    core::LiveDeltas l;
    core::AddHistoryChange(before, after, q, l);
    benchmark::DoNotOptimize(q);
  }
}
BENCHMARK(BM_AddHistoryChangeLate);

void BM_QuarterOf(benchmark::State& state) {
  core::Instant t = At(2022, 9, 30);
  for (auto _ : state) {
    benchmark::DoNotOptimize(core::QuarterOf(t));
    t += std::chrono::minutes(7);
  }
}
BENCHMARK(BM_QuarterOf);

void BM_ValidateEvent(benchmark::State& state) {
  const core::ReferenceData& reference = core::ReferenceData::Builtin();
  const Event e = History()[1];
  const core::Instant now = At(2026, 1, 1);
  for (auto _ : state) benchmark::DoNotOptimize(core::ValidateEvent(e, now, reference));
}
BENCHMARK(BM_ValidateEvent);

void BM_EncodeHistory(benchmark::State& state) {
  const std::vector<Event> h = History();
  for (auto _ : state) benchmark::DoNotOptimize(storage::EncodeHistory(h));
}
BENCHMARK(BM_EncodeHistory);

void BM_DecodeHistory(benchmark::State& state) {
  const std::string bytes = storage::EncodeHistory(History());
  for (auto _ : state) benchmark::DoNotOptimize(storage::DecodeHistory(bytes));
}
BENCHMARK(BM_DecodeHistory);

// A national model: every municipality code of the reference data, all seven cells, 24 quarters.
core::CountsModel NationalModel() {
  core::CountsModel m;
  int n = 1;
  for (const core::MunicipalityInfo& info : core::ReferenceData::Builtin().municipalities()) {
    for (int q = 8076; q < 8100; ++q) {
      for (int c = 1; c < core::kCellCount; ++c) {
        m.AddQuarter(q, info.code, static_cast<core::Cell>(c), (n++ % 17) - 3);
        m.AddLive(info.code, static_cast<core::Cell>(c), n % 11);
      }
    }
  }
  return m;
}

void BM_ModelQuarterRowsNational(benchmark::State& state) {
  const core::CountsModel m = NationalModel();
  for (auto _ : state) benchmark::DoNotOptimize(m.QuarterRows(8095));
}
BENCHMARK(BM_ModelQuarterRowsNational);

void BM_ProvisionalNationalFromModel(benchmark::State& state) {
  const core::CountsModel m = NationalModel();
  const core::FiguresBuilder builder(core::ReferenceData::Builtin(),
                                     core::LayoutDate(core::Quarter{2023, 4}));
  for (auto _ : state) benchmark::DoNotOptimize(builder.AllRegions(m.QuarterRows(8095)));
}
BENCHMARK(BM_ProvisionalNationalFromModel);

void BM_LiveRegionFromModel(benchmark::State& state) {
  const core::CountsModel m = NationalModel();
  const core::FiguresBuilder builder(core::ReferenceData::Builtin(),
                                     core::LayoutDate(core::Quarter{2023, 4}));
  for (auto _ : state) benchmark::DoNotOptimize(builder.Region(29, m.LiveRows()));
}
BENCHMARK(BM_LiveRegionFromModel);

void BM_FiguresBuilderLayout(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(core::FiguresBuilder(core::ReferenceData::Builtin(),
                                                  core::LayoutDate(core::Quarter{2023, 4})));
  }
}
BENCHMARK(BM_FiguresBuilderLayout);

}  // namespace

BENCHMARK_MAIN();
