// EvaluateRollup and RollupRule: "N children at level L or worse -> the
// parent at L'" (alarm/rollup.h), with the GB 39496-2020 §5.5.4 figures.
#include "alarm/rollup.h"

#include <catch2/catch.hpp>
#include <optional>
#include <vector>

namespace vigil::alarm {
namespace {

RollupRule Gb39496() {
  return {.id = "gb",
          .when = {{.count = 4, .level = Severity::kBlue, .raise = Severity::kYellow},
                   {.count = 3, .level = Severity::kYellow, .raise = Severity::kOrange},
                   {.count = 2, .level = Severity::kOrange, .raise = Severity::kRed}}};
}

TEST_CASE("EvaluateRollup: the most severe condition met, and who met it", "[rollup]") {
  const RollupRule rule = Gb39496();
  using S = std::optional<Severity>;
  const S none;
  const S blue = Severity::kBlue, yellow = Severity::kYellow, orange = Severity::kOrange,
          red = Severity::kRed;
  std::vector<S> children = {blue, blue, blue, none};
  CHECK_FALSE(EvaluateRollup(rule, children).severity.has_value());
  children[3] = blue;
  RollupOutcome out = EvaluateRollup(rule, children);
  CHECK(out.severity == Severity::kYellow);
  CHECK(out.condition == 0);
  CHECK(out.contributing == std::vector<size_t>{0, 1, 2, 3});
  // "Or worse": a red child counts as yellow.
  children = {yellow, none, red, yellow, blue};
  out = EvaluateRollup(rule, children);
  CHECK(out.severity == Severity::kOrange);
  CHECK(out.contributing == std::vector<size_t>{0, 2, 3});
  children = {orange, none, red};
  out = EvaluateRollup(rule, children);
  CHECK(out.severity == Severity::kRed);
  CHECK(out.contributing == std::vector<size_t>{0, 2});
}

TEST_CASE("RollupRule: pairings, conditions and selection", "[rollup]") {
  RollupRule rule = Gb39496();
  CHECK(rule.Validate().ok());
  rule.children = RollupChildren::kFacilities;
  CHECK(rule.Validate().message() ==
        "rollup 'gb': a item cannot roll up facilities (item from sensors, facility from sensors "
        "or items, enterprise from facilities)");
  rule = Gb39496();
  rule.when[1].count = 0;
  CHECK(rule.Validate().message() == "rollup 'gb': when[1].count must be at least 1");

  const Enterprise tailings{
      .id = "e", .name = "", .kind = EnterpriseKind::kTailings, .region_code = "370105"};
  const Facility reservoir{
      .id = "r", .enterprise_id = "e", .kind = FacilityKind::kTailingsReservoir};
  const Facility farm{.id = "f", .enterprise_id = "e", .kind = FacilityKind::kTankFarm};
  RollupRule a = Gb39496();
  a.id = "a";
  a.facility_kinds = {FacilityKind::kTankFarm};
  RollupRule b = Gb39496();
  b.id = "b";
  const std::vector<RollupRule> rules = {a, b};
  // The first that selects it, in file order.
  CHECK(RollupFor(rules, RollupParent::kItem, &farm, tailings)->id == "a");
  CHECK(RollupFor(rules, RollupParent::kItem, &reservoir, tailings)->id == "b");
  CHECK(RollupFor(rules, RollupParent::kFacility, &reservoir, tailings) == nullptr);
}

}  // namespace
}  // namespace vigil::alarm
