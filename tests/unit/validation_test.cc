#include "core/validation.h"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <string>

namespace sonar::core {
namespace {

using std::chrono::hours;
using std::chrono::microseconds;
using std::chrono::minutes;

Instant Utc(const char* date, int h = 0, int m = 0) {
  return Instant{*ParseDate(date)} + hours{h} + minutes{m};
}

using Strings = std::initializer_list<std::string>;

const Instant kNow = Utc("2023-01-10", 12);

Event Valid() {
  Event e;
  e.source = "sonar";
  e.event_id = "evt-0001";
  e.client_ref = "Zq9pseudonymRef01";
  e.occurred_at = Utc("2022-09-01", 10);
  e.kind = EventKind::kClientRegistered;
  e.municipality_code = "GM0654";
  e.registrant = Registrant::kGemeente;
  return e;
}

std::optional<Rejection> Check(const Event& e, Instant now = kNow) {
  return ValidateEvent(e, now, ReferenceData::Builtin());
}

// Asserts that `e` is rejected with `code`, and that the reason does not echo `value`.
void ExpectRejected(const Event& e, const std::string& code, const std::string& value) {
  const auto r = Check(e);
  ASSERT_TRUE(r.has_value()) << "expected " << code;
  EXPECT_EQ(r->code, code);
  EXPECT_FALSE(r->reason.empty());
  if (!value.empty()) {
    EXPECT_EQ(r->reason.find(value), std::string::npos) << r->reason;
  }
}

TEST(ValidationTest, ValidEventOfEveryKindPasses) {
  EXPECT_FALSE(Check(Valid()).has_value());
  Event e = Valid();
  for (EventKind kind : {EventKind::kClientDeregistered, EventKind::kProfileCompleted,
                         EventKind::kProfileWithdrawn, EventKind::kTargetGroupLeft}) {
    e.kind = kind;
    e.municipality_code.clear();
    e.registrant = Registrant::kUnspecified;
    EXPECT_FALSE(Check(e).has_value()) << EventKindName(kind);
  }
  e = Valid();
  e.kind = EventKind::kRegistrantChanged;
  e.municipality_code.clear();
  e.registrant = Registrant::kUwv;
  EXPECT_FALSE(Check(e).has_value());
  for (EventKind kind : {EventKind::kClientMoved, EventKind::kTargetGroupEntered}) {
    e = Valid();
    e.kind = kind;
    e.registrant = Registrant::kUnspecified;
    EXPECT_FALSE(Check(e).has_value()) << EventKindName(kind);
  }
}

TEST(ValidationTest, EventId) {
  Event e = Valid();
  e.event_id = std::string(128, 'x');
  EXPECT_FALSE(Check(e).has_value());
  e.event_id = "a b~!";  // spaces and punctuation are printable
  EXPECT_FALSE(Check(e).has_value());
  e.event_id = "";
  ExpectRejected(e, "invalid_event_id", "");
  e.event_id = std::string(129, 'x');
  ExpectRejected(e, "invalid_event_id", e.event_id);
  e.event_id = "evt\n0001";
  ExpectRejected(e, "invalid_event_id", e.event_id);
  e.event_id = "evt\x7f";
  ExpectRejected(e, "invalid_event_id", e.event_id);
  e.event_id = "caf\xc3\xa9";  // non-ASCII UTF-8
  ExpectRejected(e, "invalid_event_id", e.event_id);
}

TEST(ValidationTest, Source) {
  Event e = Valid();
  for (const std::string& ok : Strings{"doelgroepregister", "a", "x.y_z-9", std::string(64, 's')}) {
    e.source = ok;
    EXPECT_FALSE(Check(e).has_value()) << ok;
  }
  for (const std::string& bad : Strings{"", "Sonar", "so nar", "sonar/x", std::string(65, 's')}) {
    e.source = bad;
    ExpectRejected(e, "invalid_source", bad);
  }
}

TEST(ValidationTest, ClientRefLengthAndCharset) {
  Event e = Valid();
  for (const std::string& ok :
       Strings{std::string(16, 'A'), std::string(128, 'z'), std::string("Ab0_=+/-Ab0_=+/-"),
               std::string("1234567890123456")}) {
    e.client_ref = ok;
    EXPECT_FALSE(Check(e).has_value()) << ok;
  }
  for (const std::string& bad :
       Strings{std::string(""), std::string(15, 'Q'), std::string(129, 'Q'),
               std::string("QQQQQQQQQQQQQQQ QQ"), std::string("QQQQQQQQQQQQQQQ.Q"),
               std::string("1234567890"), std::string("QQQQQQQQQQQQQQQ\xc3\xa9")}) {
    e.client_ref = bad;
    ExpectRejected(e, "invalid_client_ref", bad);
  }
}

TEST(ValidationTest, ProbableBsnIsRefusedWithoutEchoingIt) {
  Event e = Valid();
  for (const std::string& bsn :
       Strings{"12345678", "123456789", "1234.56.789", "123 456 789", "12-34-56-78"}) {
    EXPECT_TRUE(LooksLikeBsn(bsn)) << bsn;
    e.client_ref = bsn;
    ExpectRejected(e, "probable_bsn", bsn);
    const auto r = Check(e);
    ASSERT_TRUE(r.has_value());
    EXPECT_NE(r->reason.find("pseudonym"), std::string::npos) << r->reason;
    // No digit run of the value appears in the reason at all.
    EXPECT_EQ(r->reason.find("1234"), std::string::npos);
  }
  for (const std::string& not_bsn :
       Strings{"1234567", "1234567890", "", "abcd12345678", "Zq9pseudonymRef01"}) {
    EXPECT_FALSE(LooksLikeBsn(not_bsn)) << not_bsn;
  }
}

// Whatever else is wrong with the event, a BSN is what the producer hears of first.
TEST(ValidationTest, ProbableBsnComesBeforeEveryOtherRejection) {
  Event e = Valid();
  e.client_ref = "123456789";
  e.event_id = "";
  e.source = "Not A Source";
  e.kind = core::EventKind::kUnspecified;
  e.occurred_at = Utc("2010-06-01");
  ExpectRejected(e, "probable_bsn", "123456789");
}

TEST(ValidationTest, OccurredAtNotBefore2015InAmsterdam) {
  Event e = Valid();
  e.municipality_code = "GM0654";
  // 2015-01-01 00:00 Amsterdam (CET) is 2014-12-31 23:00 UTC.
  EXPECT_EQ(EarliestEventTime(), Utc("2014-12-31", 23));
  e.occurred_at = Utc("2014-12-31", 23);
  EXPECT_FALSE(Check(e).has_value());
  e.occurred_at = Utc("2014-12-31", 23) - microseconds{1};
  ExpectRejected(e, "occurred_at_too_early", FormatInstant(e.occurred_at));
  e.occurred_at = Utc("2010-06-01");
  ExpectRejected(e, "occurred_at_too_early", FormatInstant(e.occurred_at));
}

TEST(ValidationTest, OccurredAtAtMostFiveMinutesAhead) {
  Event e = Valid();
  e.occurred_at = kNow + minutes{5};
  EXPECT_FALSE(Check(e).has_value());
  e.occurred_at = kNow;
  EXPECT_FALSE(Check(e).has_value());
  e.occurred_at = kNow + minutes{5} + microseconds{1};
  ExpectRejected(e, "occurred_at_in_future", FormatInstant(e.occurred_at));
  e.occurred_at = kNow + hours{24};
  ExpectRejected(e, "occurred_at_in_future", FormatInstant(e.occurred_at));
}

TEST(ValidationTest, UnknownMunicipality) {
  Event e = Valid();
  for (const std::string& bad : Strings{"GM9999", "GM065", "gm0654", "", "0654"}) {
    e.municipality_code = bad;
    ExpectRejected(e, "unknown_municipality", bad);
  }
  e = Valid();
  e.kind = EventKind::kTargetGroupEntered;
  e.registrant = Registrant::kUnspecified;
  e.municipality_code = "GM9999";
  ExpectRejected(e, "unknown_municipality", "GM9999");
}

TEST(ValidationTest, MunicipalityMustExistAtOccurredAtInAmsterdamTime) {
  Event e = Valid();
  e.kind = EventKind::kClientMoved;
  e.registrant = Registrant::kUnspecified;
  // Maashorst exists from 2022-01-01 Amsterdam = 2021-12-31 23:00 UTC.
  e.municipality_code = "GM1991";
  e.occurred_at = Utc("2021-06-01");
  ExpectRejected(e, "municipality_not_valid", "GM1991");
  e.occurred_at = Utc("2021-12-31", 22, 59);
  ExpectRejected(e, "municipality_not_valid", "GM1991");
  e.occurred_at = Utc("2021-12-31", 23);
  EXPECT_FALSE(Check(e).has_value());
  // Uden ends when Maashorst starts.
  e.municipality_code = "GM0856";
  EXPECT_EQ(Check(e).value_or(Rejection{}).code, "municipality_not_valid");
  e.occurred_at = Utc("2021-12-31", 22, 59);
  EXPECT_FALSE(Check(e).has_value());
  e.occurred_at = Utc("2022-09-30");
  ExpectRejected(e, "municipality_not_valid", "GM0856");
}

TEST(ValidationTest, RegistrantRequiredWhereTheKindCarriesOne) {
  Event e = Valid();
  e.registrant = Registrant::kUnspecified;
  ExpectRejected(e, "invalid_registrant", "");
  e.registrant = static_cast<Registrant>(7);
  ExpectRejected(e, "invalid_registrant", "");
  e = Valid();
  e.kind = EventKind::kRegistrantChanged;
  e.municipality_code.clear();
  e.registrant = Registrant::kUnspecified;
  ExpectRejected(e, "invalid_registrant", "");
}

TEST(ValidationTest, FieldsTheKindDoesNotCarry) {
  Event e = Valid();
  e.kind = EventKind::kProfileCompleted;
  e.registrant = Registrant::kUnspecified;
  ExpectRejected(e, "unexpected_municipality", "GM0654");
  e.municipality_code.clear();
  e.registrant = Registrant::kUwv;
  ExpectRejected(e, "unexpected_registrant", "");
  e = Valid();
  e.kind = EventKind::kClientMoved;  // has a municipality, not a registrant
  ExpectRejected(e, "unexpected_registrant", "");
}

TEST(ValidationTest, KindUnspecified) {
  Event e = Valid();
  e.kind = EventKind::kUnspecified;
  e.municipality_code.clear();
  e.registrant = Registrant::kUnspecified;
  ExpectRejected(e, "missing_kind", "");
}

}  // namespace
}  // namespace sonar::core
