"""`import srlaw` stays light: the predictor must run where torch, lightning and dvc are absent."""

import subprocess
import sys

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {blocked!r}:
            raise ImportError('blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
"""


def run_blocked(code, blocked):
    return subprocess.run([sys.executable, "-c", BLOCKER.format(blocked=set(blocked)) + code],
                          capture_output=True, text=True)


def test_import_srlaw_without_torch_lightning_dvc():
    proc = run_blocked("import srlaw, srlaw.data.quality, srlaw.data.dataset, srlaw.data.readers, srlaw.cli; print('ok')",
                       ["torch", "lightning", "pytorch_lightning", "dvc", "dvclive", "onnx", "onnxruntime"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
