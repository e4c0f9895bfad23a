#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/recipe.h"
#include "test_util.h"

namespace {

using r1::testing::error_of;
using r1::testing::scratch_dir;
using r1::testing::write_file;

constexpr const char* kRecipe = R"(
name = "tiny"
[model]
dim = 64
layers = 2
tied = true
[train]
lr = 3e-4
steps = 1000
warmup = 1e2
betas = [0.9, 0.95]
schedule = "cosine"
)";

}  // namespace

TEST(Recipe, GettersReadEveryType) {
  const auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  EXPECT_EQ(r.name(), "recipe.toml");
  EXPECT_EQ(r.get_string("name"), "tiny");
  EXPECT_EQ(r.get_int("model.dim"), 64);
  EXPECT_TRUE(r.get_bool("model.tied"));
  EXPECT_DOUBLE_EQ(r.get_float("train.lr"), 3e-4);
  EXPECT_EQ(r.get_int("train.steps"), 1000);
  EXPECT_EQ(r.get_string("train.schedule"), "cosine");
  EXPECT_EQ(r.get_float_array("train.betas"), (std::vector<double>{0.9, 0.95}));
  EXPECT_TRUE(r.has("train"));
  EXPECT_TRUE(r.has("train.lr"));
  EXPECT_FALSE(r.has("train.nope"));
  EXPECT_FALSE(r.has("train.lr.x"));
}

TEST(Recipe, DefaultsOnlyWhenMissing) {
  const auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  EXPECT_EQ(r.get_int("train.batch", 8), 8);
  EXPECT_DOUBLE_EQ(r.get_float("train.wd", 0.1), 0.1);
  EXPECT_EQ(r.get_string("data.path", "x.jsonl"), "x.jsonl");
  EXPECT_FALSE(r.get_bool("train.compile", false));
  EXPECT_EQ(r.get_float_array("train.nope", {1.0}), std::vector<double>{1.0});
  EXPECT_EQ(r.get_int("train.steps", 5), 1000);
  // A present key of the wrong type is an error even when a default is given.
  EXPECT_EQ(error_of([&] { r.get_int("train.schedule", 5); }),
            "recipe.toml: key 'train.schedule' must be an integer, got string \"cosine\"");
}

TEST(Recipe, NumbersConvertWhereExact) {
  const auto r = r1::Recipe::parse("a = 3\nb = 1e4\nc = 3.5\nd = inf\ne = 1e30\n", "recipe.toml");
  EXPECT_DOUBLE_EQ(r.get_float("a"), 3.0);  // integers are accepted as floats
  EXPECT_EQ(r.get_int("b"), 10000);         // integral floats are accepted as integers
  EXPECT_EQ(error_of([&] { r.get_int("c"); }), "recipe.toml: key 'c' must be an integer, got float 3.5");
  EXPECT_EQ(error_of([&] { r.get_int("d"); }), "recipe.toml: key 'd' must be an integer, got float inf");
  EXPECT_NE(error_of([&] { r.get_int("e"); }).find("must be an integer"), std::string::npos);
}

TEST(Recipe, MissingKey) {
  const auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  EXPECT_EQ(error_of([&] { r.get_int("train.stepz"); }), "recipe.toml: missing key 'train.stepz'");
  EXPECT_EQ(error_of([&] { r.get_float("optim.lr"); }), "recipe.toml: missing key 'optim.lr'");
  EXPECT_EQ(error_of([&] { r.get_string("train.lr.x"); }), "recipe.toml: missing key 'train.lr.x'");
  EXPECT_EQ(error_of([&] { r.get_bool("x"); }), "recipe.toml: missing key 'x'");
  EXPECT_EQ(error_of([&] { r.get_float_array("x"); }), "recipe.toml: missing key 'x'");
}

TEST(Recipe, WrongTypes) {
  const auto r = r1::Recipe::parse("[train]\nlr = \"abc\"\nsteps = true\nb = [1, \"x\"]\n", "recipe.toml");
  EXPECT_EQ(error_of([&] { r.get_float("train.lr"); }),
            "recipe.toml: key 'train.lr' must be a number, got string \"abc\"");
  EXPECT_EQ(error_of([&] { r.get_int("train.steps"); }),
            "recipe.toml: key 'train.steps' must be an integer, got boolean true");
  EXPECT_EQ(error_of([&] { r.get_bool("train.lr"); }),
            "recipe.toml: key 'train.lr' must be a boolean (true or false), got string \"abc\"");
  EXPECT_EQ(error_of([&] { r.get_string("train"); }), "recipe.toml: key 'train' must be a string, got table");
  EXPECT_EQ(error_of([&] { r.get_float_array("train.lr"); }),
            "recipe.toml: key 'train.lr' must be an array of numbers, got string \"abc\"");
  EXPECT_EQ(error_of([&] { r.get_float_array("train.b"); }),
            "recipe.toml: key 'train.b' must be an array of numbers, but element 1 is string \"x\"");
}

TEST(Recipe, SyntaxErrorNamesLineAndColumn) {
  const std::string msg = error_of([] { r1::Recipe::parse("a = 1\n[train]\nlr = = 3\n", "recipe.toml"); });
  EXPECT_EQ(msg.rfind("recipe.toml:3:", 0), 0u) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  const std::string dup = error_of([] { r1::Recipe::parse("a = 1\na = 2\n", "r.toml"); });
  EXPECT_EQ(dup.rfind("r.toml:2:", 0), 0u) << dup;
}

TEST(Recipe, LoadFromFile) {
  const std::string dir = scratch_dir();
  const std::string path = write_file(dir + "/load.toml", kRecipe);
  const auto r = r1::Recipe::load(path);
  EXPECT_EQ(r.name(), path);
  EXPECT_EQ(r.get_int("model.layers"), 2);
  EXPECT_EQ(error_of([&] { r.get_int("nope"); }), path + ": missing key 'nope'");

  const std::string bad = write_file(dir + "/bad.toml", "x = [1,\n");
  EXPECT_EQ(error_of([&] { r1::Recipe::load(bad); }).rfind(bad + ":", 0), 0u);

  const std::string missing = dir + "/does_not_exist.toml";
  const std::string msg = error_of([&] { r1::Recipe::load(missing); });
  EXPECT_EQ(msg.rfind(missing + ": cannot open recipe", 0), 0u) << msg;
  EXPECT_NE(error_of([&] { r1::Recipe::load(dir); }).find("is a directory"), std::string::npos);
}

TEST(Recipe, SetParsesTomlValues) {
  auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  r.set("train.lr=1e-3");
  r.set("train.steps = 20");
  r.set("model.tied=false");
  r.set("train.betas=[0.8, 1]");
  r.set("train.schedule=\"linear\"");
  r.set("name='single quoted'");
  EXPECT_DOUBLE_EQ(r.get_float("train.lr"), 1e-3);
  EXPECT_EQ(r.get_int("train.steps"), 20);
  EXPECT_FALSE(r.get_bool("model.tied"));
  EXPECT_EQ(r.get_float_array("train.betas"), (std::vector<double>{0.8, 1.0}));
  EXPECT_EQ(r.get_string("train.schedule"), "linear");
  EXPECT_EQ(r.get_string("name"), "single quoted");
}

TEST(Recipe, SetFallsBackToBareStrings) {
  auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  r.set("data.path=foo.jsonl");
  r.set("data.dir=/tmp/a b/c");
  r.set("data.empty=");
  r.set("data.eq=a=b");
  r.set("data.sneaky=1\nx = 2");  // more than one key: not one TOML value, so a string
  r.set("data.open=[1,");
  EXPECT_EQ(r.get_string("data.path"), "foo.jsonl");
  EXPECT_EQ(r.get_string("data.dir"), "/tmp/a b/c");
  EXPECT_EQ(r.get_string("data.empty"), "");
  EXPECT_EQ(r.get_string("data.eq"), "a=b");
  EXPECT_EQ(r.get_string("data.sneaky"), "1\nx = 2");
  EXPECT_FALSE(r.has("x"));
  EXPECT_EQ(r.get_string("data.open"), "[1,");
  // A bare string where a number is wanted is reported when it is read.
  r.set("train.lr=abc");
  EXPECT_EQ(error_of([&] { r.get_float("train.lr"); }),
            "recipe.toml: key 'train.lr' must be a number, got string \"abc\"");
}

TEST(Recipe, SetCreatesIntermediateTables) {
  r1::Recipe r;
  EXPECT_EQ(r.name(), "<recipe>");
  r.set("a.b.c=7");
  r.set("a.b.d=true");
  r.set("a.x=\"y\"");
  EXPECT_EQ(r.get_int("a.b.c"), 7);
  EXPECT_TRUE(r.get_bool("a.b.d"));
  EXPECT_EQ(r.get_string("a.x"), "y");
  EXPECT_TRUE(r.has("a.b"));
}

TEST(Recipe, SetErrors) {
  auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  std::string msg = error_of([&] { r.set("train.lr"); });
  EXPECT_NE(msg.find("'train.lr'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing '='"), std::string::npos) << msg;
  msg = error_of([&] { r.set("=3"); });
  EXPECT_NE(msg.find("'=3'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty key"), std::string::npos) << msg;
  msg = error_of([&] { r.set("  =3"); });
  EXPECT_NE(msg.find("empty key"), std::string::npos) << msg;
  msg = error_of([&] { r.set("train..lr=3"); });
  EXPECT_NE(msg.find("bad key 'train..lr'"), std::string::npos) << msg;
  msg = error_of([&] { r.set("train.l r=3"); });
  EXPECT_NE(msg.find("bad key"), std::string::npos) << msg;
  msg = error_of([&] { r.set("train.lr.x=1"); });
  EXPECT_EQ(msg, "override 'train.lr.x=1': 'train.lr' is float 0.0003, not a table");
  msg = error_of([&] { r.set("train=1"); });
  EXPECT_EQ(msg, "override 'train=1': 'train' is a table; set one of its keys instead");
  msg = error_of([&] { r.set("data.path=\xff\xfe"); });
  EXPECT_NE(msg.find("not valid UTF-8"), std::string::npos) << msg;
  // Failed overrides change nothing.
  EXPECT_DOUBLE_EQ(r.get_float("train.lr"), 3e-4);
  EXPECT_FALSE(r.has("data"));
}

TEST(Recipe, CheckKnownSuggestsClosestKey) {
  const std::vector<std::string> known = {"name",         "model.dim",   "model.layers",
                                          "model.tied",   "train.lr",    "train.steps",
                                          "train.warmup", "train.betas", "train.schedule"};
  auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  EXPECT_NO_THROW(r.check_known(known));

  auto typo = r1::Recipe::parse("[trian]\nlr = 1\n", "recipe.toml");
  EXPECT_EQ(error_of([&] { typo.check_known(known); }),
            "recipe.toml: unknown key 'trian.lr' (did you mean 'train.lr'?)");
  auto misplaced = r1::Recipe::parse("lr = 1\n", "recipe.toml");
  EXPECT_EQ(error_of([&] { misplaced.check_known(known); }),
            "recipe.toml: unknown key 'lr' (did you mean 'train.lr'?)");
  auto far = r1::Recipe::parse("[zzz]\nqqqqqq = 1\n", "recipe.toml");
  EXPECT_EQ(error_of([&] { far.check_known(known); }), "recipe.toml: unknown key 'zzz.qqqqqq'");
  // Overrides are checked too.
  r.set("train.stpes=5");
  EXPECT_EQ(error_of([&] { r.check_known(known); }),
            "recipe.toml: unknown key 'train.stpes' (did you mean 'train.steps'?)");
}

TEST(Recipe, ToTomlRoundTrips) {
  auto r = r1::Recipe::parse(kRecipe, "recipe.toml");
  r.set("train.lr=0.1");
  r.set("data.path=my data/a \"quoted\" 'file'.jsonl");
  r.set("data.note=\"line1\\nline2\\ttab \\u00e9 \\\\ end\"");
  r.set("x.big=9223372036854775807");
  r.set("x.small=-9223372036854775808");
  r.set("x.tiny=1e-300");
  r.set("x.third=0.3333333333333333");
  r.set("x.inf=-inf");
  r.set("x.nan=nan");
  r.set("x.empty=[]");
  r.set("x.mixed=[1, 2.5, -3]");
  r.set("x.unicode=\"日本語 ✓\"");
  const std::string text = r.to_toml();
  const auto back = r1::Recipe::parse(text, "saved.toml");
  EXPECT_EQ(back.to_toml(), text);
  EXPECT_EQ(back.get_string("name"), "tiny");
  EXPECT_EQ(back.get_int("model.dim"), 64);
  EXPECT_TRUE(back.get_bool("model.tied"));
  EXPECT_EQ(back.get_float("train.lr"), 0.1);
  EXPECT_EQ(back.get_int("train.steps"), 1000);
  EXPECT_EQ(back.get_float_array("train.betas"), (std::vector<double>{0.9, 0.95}));
  EXPECT_EQ(back.get_string("data.path"), "my data/a \"quoted\" 'file'.jsonl");
  EXPECT_EQ(back.get_string("data.note"), "line1\nline2\ttab \xc3\xa9 \\ end");
  EXPECT_EQ(back.get_int("x.big"), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(back.get_int("x.small"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(back.get_float("x.tiny"), 1e-300);
  EXPECT_EQ(back.get_float("x.third"), 0.3333333333333333);
  EXPECT_EQ(back.get_float("x.inf"), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(back.get_float("x.nan")));
  EXPECT_TRUE(back.get_float_array("x.empty").empty());
  EXPECT_EQ(back.get_float_array("x.mixed"), (std::vector<double>{1, 2.5, -3}));
  EXPECT_EQ(back.get_string("x.unicode"), "日本語 ✓");
  // Integer-ness survives the trip: an integer is not written as a float or back.
  EXPECT_EQ(error_of([&] { back.get_int("train.lr"); }),
            "saved.toml: key 'train.lr' must be an integer, got float 0.1");
}

TEST(Recipe, CopiesAreIndependent) {
  const auto a = r1::Recipe::parse(kRecipe, "recipe.toml");
  auto b = a;
  b.set("train.steps=1");
  EXPECT_EQ(a.get_int("train.steps"), 1000);
  EXPECT_EQ(b.get_int("train.steps"), 1);
  r1::Recipe c;
  c = b;
  c.set("train.steps=2");
  EXPECT_EQ(b.get_int("train.steps"), 1);
  EXPECT_EQ(c.name(), "recipe.toml");
  r1::Recipe d = std::move(c);
  EXPECT_EQ(d.get_int("train.steps"), 2);
}

// keys_under lists the names directly under a table (the reward models of [reward.models.NAME]).
TEST(Recipe, KeysUnderATable) {
  const auto r = r1::Recipe::parse(
      "[reward]\nmath = 1.0\n[reward.models.helpful]\npath = \"a\"\n[reward.models.harmless]\npath = \"b\"\n",
      "r.toml");
  EXPECT_EQ(r.keys_under("reward.models"), (std::vector<std::string>{"harmless", "helpful"}));
  EXPECT_EQ(r.keys_under("reward"), (std::vector<std::string>{"math", "models"}));
  EXPECT_TRUE(r.keys_under("absent.table").empty());
  r1::testing::expect_error([&] { r.keys_under("reward.math"); }, {"r.toml", "reward.math", "table"});
}

TEST(Recipe, ATableAsARecipeOfItsOwn) {
  const auto r = r1::Recipe::parse(
      "[model]\npath = \"base\"\n[stage.train]\nlr = 0.5\nsteps = 3\n[stage.output]\nsave_every = 2\n",
      "p.toml");
  const r1::Recipe s = r.table("stage", "p.toml [stage]");
  EXPECT_EQ(s.name(), "p.toml [stage]");
  EXPECT_EQ(s.get_float("train.lr"), 0.5);
  EXPECT_EQ(s.get_int("output.save_every"), 2);
  EXPECT_FALSE(s.has("model.path"));
  EXPECT_EQ(r1::Recipe::parse(s.to_toml()).get_int("train.steps"), 3);
  r1::testing::expect_error([&] { s.get_string("train.lr"); }, {"p.toml [stage]: key 'train.lr'"});
  EXPECT_FALSE(r.table("absent", "x").has("train"));
  r1::testing::expect_error([&] { r.table("model.path", "x"); }, {"p.toml", "model.path", "table"});
}

// set_string takes the value as it is: a path with quotes, backslashes or '=' stays that path
// (set() would read it as TOML, where "\b" is a backspace).
TEST(Recipe, SetStringTakesTheValueAsItIs) {
  r1::Recipe r = r1::Recipe::parse("[output]\ndir = \"old\"\n", "r.toml");
  const std::string odd = "/tmp/a \"q\" \\b\\n = x";
  r.set_string("output.dir", odd);
  r.set_string("model.path", "m");
  EXPECT_EQ(r.get_string("output.dir"), odd);
  EXPECT_EQ(r.get_string("model.path"), "m");
  EXPECT_EQ(r1::Recipe::parse(r.to_toml()).get_string("output.dir"), odd);
  r1::testing::expect_error([&] { r.set_string("output", "x"); }, {"'output' is a table"});
  r1::testing::expect_error([&] { r.set_string("bad key", "x"); }, {"bad key 'bad key'"});
}
