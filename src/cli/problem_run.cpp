#include "cli/problem_run.h"

#include <fmt/format.h>

#include "cli/gen_common.h"
#include "cli/options.h"

namespace r1::cli {

void add_problem_run_options(CLI::App* cmd, ProblemRunArgs& a) {
  // R1's evaluation protocol (R1-NOTES section 6) unless the command or the user says otherwise.
  a.gen.sampling.temperature = 0.6f;
  a.gen.sampling.top_p = 0.95f;
  a.gen.max_new_tokens = 1024;
  cmd->add_option("--model", a.model_path, "Hugging Face model directory or .gguf file")->required();
  cmd->add_option("--data", a.data, "gsm8k, math500, aime24, or a JSONL file")->required();
  cmd->add_option("--data-dir", a.data_dir,
                  "where the benchmarks live (default: $R1_DATA_DIR, else ../shared/data)");
  cmd->add_option("--prompt-field", a.prompt_field,
                  "the question's field (gsm8k: question, else problem/prompt)");
  cmd->add_option("--answer-field", a.answer_field, "the gold answer's field (answer)");
  cmd->add_flag("--gsm8k-answer", a.gsm8k_answer, "the answer field ends in \"#### N\" (as GSM8K's)");
  cmd->add_option("--limit", a.limit, "the first N problems only")->check(in_range(1, 1099511627776.0));
  cmd->add_option("--k", a.gen.n, fmt::format("samples per problem ({})", a.gen.n))->check(in_range(1, 1024));
  cmd->add_option("--template", a.templ,
                  "prompt format: auto (the model's chat template if it has one, else none), chat, r1zero, "
                  "distill, none");
  cmd->add_option(
      "--instruction", a.instruction,
      "appended to each question on a new line (auto: the R1 \\boxed{} instruction, none with r1zero)");
  cmd->add_flag("--force-think", a.force_think, "the response starts with \"<think>\\n\" (R1's protocol)");
  cmd->add_flag("--last-number", a.last_number, "with no marked answer, take the response's last number");
  add_sampling_options(cmd, a.gen, a.greedy, a.kv_budget_mb);
  cmd->get_option("--temperature")->description("sampling temperature (0.6)");
  cmd->get_option("--top-p")->description("nucleus sampling mass (0.95)");
  cmd->get_option("--max-new-tokens")->description("tokens per response at most (1024)");
  cmd->add_flag("--truncate-prompt", a.truncate_prompt,
                "cut prompts that leave fewer than --max-new-tokens positions in the model's context to "
                "their last tokens (default: refuse prompts that fill the context, cap the others' samples)");
}

}  // namespace r1::cli
