"""The README's quick start runs as written (with the test server's port for 9000)."""
import contextlib
import io
import re
from pathlib import Path


def test_the_readme_quick_start_runs(server):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    host, port = server
    assert '"127.0.0.1", 9000' in code
    code = code.replace('"127.0.0.1", 9000', f'"{host}", {port}')
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue()
    assert printed.startswith("[(3,)]\n"), printed
    assert "name" in printed and "c" in printed
