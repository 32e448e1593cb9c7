"""The command line's light name lists agree with the registries they mirror."""

from curvecast import choices
from curvecast.api import method_names
from curvecast.curve import GOALS
from curvecast.families import FAMILIES
from curvecast.io import FORMATS
from curvecast.scaling import LAWS


def test_names_match_the_registries():
    assert choices.GOALS == GOALS
    assert choices.FORMATS == FORMATS
    assert choices.FAMILIES == tuple(FAMILIES)
    assert sorted(choices.METHODS) == sorted(method_names())
    assert choices.LAWS == tuple(LAWS)


def test_help_imports_no_numerics():
    import subprocess
    import sys

    code = ("import sys, curvecast.cli; "
            "print(sorted(m for m in ('numpy', 'scipy', 'pandas', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
