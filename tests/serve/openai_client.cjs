// Drives r1 serve with the official openai client (tests/serve/test_openai_client.cpp runs it).
// Environment: BASE_URL, MODEL, API_KEY, THINK ("1": the model's replies have a <think> part).
// Prints one line per check; exits 1 at the first failure.
const OpenAI = require('openai');

function check(cond, what) {
  if (!cond) {
    console.error('FAIL: ' + what);
    process.exit(1);
  }
  console.log('ok: ' + what);
}

async function main() {
  const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
  const model = process.env.MODEL;
  const think = process.env.THINK === '1';
  const messages = [{ role: 'user', content: process.env.PROMPT || 'Hello' }];

  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === model, 'models.list names the served model');

  const whole = await client.chat.completions.create({ model, messages, max_tokens: 100, seed: 3, temperature: 0.6 });
  const msg = whole.choices[0].message;
  check(typeof msg.content === 'string', 'a whole answer has string content');
  check(['stop', 'length'].includes(whole.choices[0].finish_reason), 'finish_reason is stop or length');
  check(whole.usage.completion_tokens > 0 && whole.usage.prompt_tokens > 0, 'usage counts tokens');
  if (think) {
    check(typeof msg.reasoning_content === 'string' && msg.reasoning_content.length > 0, 'reasoning_content is the <think> part');
    check(!msg.content.includes('<think>') && !msg.content.includes('</think>'), 'content holds no think tags');
    check(whole.usage.completion_tokens_details.reasoning_tokens > 0, 'usage counts reasoning tokens');
  }

  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 100, seed: 3, temperature: 0.6, stream: true, stream_options: { include_usage: true },
  });
  let reasoning = '', content = '', finish = null, usage = null, order_ok = true, seen_content = false;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (c.delta.reasoning_content) {
        reasoning += c.delta.reasoning_content;
        if (seen_content && content.trim().length > 0) order_ok = false;
      }
      if (c.delta.content) { content += c.delta.content; seen_content = true; }
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  check(content === msg.content, 'streamed content equals the whole answer (same seed)');
  check(reasoning === (msg.reasoning_content || ''), 'streamed reasoning_content equals the whole answer');
  check(finish === whole.choices[0].finish_reason, 'the stream ends with the same finish_reason');
  check(usage && usage.completion_tokens === whole.usage.completion_tokens, 'the stream reports usage');
  if (think) check(order_ok && reasoning.length > 0, 'reasoning deltas come before the answer');

  const comp = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 20, temperature: 0 });
  check(typeof comp.choices[0].text === 'string' && comp.usage.completion_tokens > 0, 'completions.create answers');

  try {
    await client.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'x' }] });
    check(false, 'an unknown role is refused');
  } catch (e) {
    check(e.status === 400 && e.error && e.error.param === 'messages[0].role', 'an unknown role is a 400 the client parses');
  }
  const bad = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'wrong', maxRetries: 0 });
  try {
    await bad.models.list();
    check(false, 'a wrong key is refused');
  } catch (e) {
    check(e.status === 401, 'a wrong key is a 401');
  }
}

main().catch((e) => {
  console.error('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
