#!/usr/bin/env python3
# Vendored unchanged (below this note) from the project's benchmark kit: the dataset generator the benchmarks and the
# large-file tests use. Deterministic for a given Python version (its standard library docstrings are the corpus).
"""Write a deterministic chat fine-tuning dataset (JSONL) of a given size.

Text comes from the docstrings of the Python standard library on this machine,
mixed with CJK sentences and code snippets, so tokenizer cost resembles real data.

usage: make_dataset.py OUT.jsonl N_EXAMPLES [--seed S] [--bad-every K]
  --bad-every K   make every K-th line malformed in one of several ways (for error-path tests)
"""
import argparse, inspect, json, pkgutil, random, importlib, sys, warnings

CJK = [
    "微调模型通过在您自己的数据上训练模型的权重来改进小样本学习方法。",
    "部署自定义模型后，如果部署在任何时候保持非活动状态超过十五天，则会删除该部署。",
    "单个示例需要保持在模型的输入令牌限制之下。",
    "人工智能是让计算机完成通常需要人类智能的任务的技术。",
]

def corpus():
    warnings.simplefilter("ignore")
    docs = []
    for m in sorted(sys.stdlib_module_names):
        if m.startswith("_") or m in {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}:
            continue
        try:
            mod = importlib.import_module(m)
        except Exception:
            continue
        for _, obj in sorted(vars(mod).items())[:200]:
            d = inspect.getdoc(obj) if callable(obj) else None
            if d and 40 < len(d) < 4000:
                docs.append(d)
    return docs

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out"); ap.add_argument("n", type=int)
    ap.add_argument("--seed", type=int, default=7); ap.add_argument("--bad-every", type=int, default=0)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    docs = corpus()
    with open(a.out, "w", encoding="utf-8") as f:
        for i in range(a.n):
            turns = rnd.choice([1, 1, 2, 3])
            msgs = [{"role": "system", "content": "You are an AI teacher that helps people learn about AI."}]
            for _ in range(turns):
                # Real datasets rarely repeat a question or an answer: splice two sources at random
                # offsets so that nearly every user and assistant text is unique.
                q = rnd.choice(docs).split("\n")[0][:300] + " " + rnd.choice(docs)[:rnd.randint(0, 80)]
                d = rnd.choice(docs)
                ans = d[rnd.randrange(max(1, len(d) // 3)):] + " " + rnd.choice(docs)[:rnd.randint(20, 200)]
                if rnd.random() < 0.2:
                    ans += " " + rnd.choice(CJK)
                msgs.append({"role": "user", "content": "Explain: " + q})
                msgs.append({"role": "assistant", "content": ans})
            line = json.dumps({"messages": msgs}, ensure_ascii=False)
            if a.bad_every and i % a.bad_every == a.bad_every - 1:
                kind = (i // a.bad_every) % 5
                line = [line[:-3],                                               # truncated JSON
                        json.dumps({"messages": msgs[:-1]}, ensure_ascii=False),  # no assistant turn
                        json.dumps({"messages": [{"role": "robot", "content": "x"}]}),  # bad role
                        json.dumps({"msgs": msgs}),                               # missing key
                        json.dumps({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "ok"}]}),  # non-string content
                        ][kind]
            f.write(line + "\n")

if __name__ == "__main__":
    main()
