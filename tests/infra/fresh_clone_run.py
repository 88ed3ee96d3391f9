"""Run infra/ under mocks in a process where the project is NOT installed (a fresh clone without `pip install -e`).

Invoked as a subprocess by test_program.py: argv[1] = project root, stdin = the config JSON. Prints the exported
output names. Deliberately self-contained: it must not import anything from the project before runpy does.
"""
import importlib.util
import json
import os
import runpy
import sys

root = sys.argv[1]
sys.meta_path[:] = [finder for finder in sys.meta_path if "editable" not in getattr(finder, "__module__", "")]
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != root and p not in ("", ".")]
for name in [m for m in sys.modules if m == "infra" or m.startswith(("infra.", "pipeline"))]:
    del sys.modules[name]
assert importlib.util.find_spec("infra") is None, "infra is still importable; the test would prove nothing"

import pulumi  # noqa: E402
from pulumi.runtime import settings  # noqa: E402


class Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        outputs = dict(args.inputs)
        if args.typ == "azure-native:cognitiveservices:Account":
            outputs["name"] = args.inputs["accountName"]
            outputs["properties"] = {**args.inputs["properties"], "endpoint": "https://x.openai.azure.com/"}
        if args.typ == "azure-native:resources:ResourceGroup":
            outputs["name"] = args.inputs["resourceGroupName"]
        if args.typ.endswith(":Evaluation"):
            outputs.update(pass_rate=0.75, base_pass_rate=0.0, run_id="evalrun-mock")
        if args.typ.startswith("pulumi-python:dynamic"):
            outputs["restore"] = False
        return f"{args.name}-id", outputs

    def call(self, args):
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": "c", "objectId": "0f0e0d0c-0b0a-0908-0706-050403020100",
                    "subscriptionId": "11111111-2222-3333-4444-555555555555", "tenantId": "t"}
        return {"key1": "k1", "key2": "k2"}


pulumi.runtime.set_mocks(Mocks(), project="aoai-finetune", stack="dev", preview=False)
pulumi.runtime.set_all_config(json.load(sys.stdin))
os.chdir(os.path.join(root, "infra"))
pulumi.runtime.test(lambda: runpy.run_path(os.path.join(root, "infra"), run_name="__main__"))()
print(json.dumps(sorted(settings.get_root_resource().outputs)))
