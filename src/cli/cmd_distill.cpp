// r1 distill: a teacher's verified traces (r1 sample) -> SFT of a student (r1 sft); train/distill.h.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/run_recipe.h"
#include "core/error.h"
#include "core/recipe.h"
#include "train/distill.h"
#include "train/distill_demo.h"

namespace r1::cli {

namespace {

struct DistillArgs : StagedRecipeArgs {
  bool demo = false;
  DistillDemoOptions demo_opt;
};

int run_distill_cmd(const DistillArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(distill_recipe_rules()).c_str());
    return 0;
  }
  if (a.demo) {
    if (!a.recipe.empty() || !a.sets.empty() || a.resume)
      fail("distill --demo: takes no recipe, --set or --resume (its stages are reused when complete)");
    return run_distill_demo(a.demo_opt);
  }
  return run_distill(load_staged_recipe("distill", a), RunStart{a.resume, a.allow_changes});
}

}  // namespace

void add_distill_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<DistillArgs>();
  CLI::App* c = app.add_subcommand(
      "distill", "distillation: a teacher's verified traces (r1 sample), then SFT of a student (r1 sft)");
  add_staged_recipe_options(c, *a, "TOML recipe: [teacher], [problems], [sample], [student] and the SFT keys",
                            "sample.k=8");
  c->add_flag(
      "--demo", a->demo,
      "the paper's Table 6 at toy scale: GRPO vs SFT on the teacher's traces vs on-policy distillation "
      "of a small student, with r1 zero's model as the teacher");
  c->add_option("--dir", a->demo_opt.dir, "--demo: the run directory (runs/distill-demo)");
  c->add_option("--zero-dir", a->demo_opt.zero_dir,
                "--demo: the teacher's r1 zero run (default DIR/zero; run there unless complete)");
  c->add_flag("--quick", a->demo_opt.quick,
              "--demo with tiny settings: a smoke test of the pipeline, not a result");
  out.push_back({c, [a] { return run_distill_cmd(*a); }});
}

}  // namespace r1::cli
