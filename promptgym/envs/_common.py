"""What every promptgym env shares: the base class (argument checks, action parsing, ansi and
rgb_array rendering), task selection and the lazily built, picklable coder + sandbox."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import fields
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import gymnasium as gym
import numpy as np

from promptgym.coders import Coder, check_coder, make_coder
from promptgym.error import DependencyNotInstalled, InvalidAction, TaskNotFound, check_keywords, did_you_mean, unknown
from promptgym.tasks import Task, load_tasks

if TYPE_CHECKING:
    from evaluators import ExecutionResult, Sandbox

R = TypeVar("R")
FEEDBACK = ("visible", "all")
"""``feedback=`` values: ``"visible"`` (the ``-v1`` envs: visible tests teach, hidden tests judge) or
``"all"`` (the ``-v0`` envs: the standard tests, ``Task.tests``, do both; kept to reproduce older numbers)."""
NO_VISIBLE_TESTS = "no visible tests"
"""The error of the stand-in result for a run of an empty visible set (nothing is executed)."""
EMBEDDERS = ("hash", "minilm")
OBSERVATIONS = ("box", "dict")
PANEL_SIZE = (640, 480)  # rgb_array frames (width, height): one size so video writers accept every frame
_LINE_HEIGHT = 12


def check_choice(kind: str, value: Any, choices: Sequence[str]) -> None:
    """Raise ValueError, suggesting the nearest of ``choices``, unless ``value`` is one of them."""
    if value not in choices:
        raise ValueError(str(unknown(kind, str(value), choices)))


class TestSplit:
    """Which of a task's test sets teach and which judge, for one ``feedback`` value.

    Teach (``"visible"``, or ``"all"`` under ``feedback="all"``): RUN_TESTS, DEBUG feedback,
    EVALUATE, PromptOpt's per-step reward and the genetic fitness. Judge (``"hidden"``, or
    ``"all"``): the terminal verdict only. :meth:`agent_task` is the task handed to coders,
    operators and sub-episodes: under ``"visible"`` it holds no hidden test at all.
    """

    __test__ = False  # not a pytest class

    def __init__(self, feedback: str) -> None:
        check_choice("feedback", feedback, FEEDBACK)
        self.feedback = feedback
        self.teach, self.judge = ("visible", "hidden") if feedback == "visible" else ("all", "all")

    def agent_task(self, task: Task) -> Task:
        """``task`` as the agent's side may see it (its visible view under ``feedback="visible"``)."""
        return task.visible_view() if self.feedback == "visible" else task

    def shared(self, task: Task) -> bool:
        """Whether teaching and judging run the same snippets (then one run serves both)."""
        return task.test_set(self.teach) == task.test_set(self.judge)

    def no_visible_result(self) -> ExecutionResult:
        """The stand-in for a run of an empty visible set: status "error", nothing executed."""
        from evaluators.result import ExecutionResult

        return ExecutionResult(status="error", error=NO_VISIBLE_TESTS)


def check_int(name: str, value: Any, minimum: int) -> None:
    """Raise ValueError unless ``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_timeout(timeout: Any) -> float:
    """``timeout`` in seconds as a float; raise ValueError unless it is a number > 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def check_embedder(spec: Any) -> None:
    """Raise for an embedder name that is neither built in, a model folder nor an ``owner/name`` hub id."""
    if isinstance(spec, str) and spec not in EMBEDDERS and "/" not in spec and not Path(spec).exists():
        raise unknown("embedder (or a model folder, or an 'owner/name' hub id)", spec, EMBEDDERS)


def as_action(action: Any, n: int) -> int:
    """``action`` as an int in ``[0, n)``: an int, a NumPy integer or a one-element integer array.

    Floats, bools, strings and wider arrays raise InvalidAction instead of being truncated to
    some action the agent never chose.
    """
    arr = np.asarray(action)
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.integer) or not 0 <= int(arr.reshape(-1)[0]) < n:
        raise InvalidAction(f"Action {action!r} is outside Discrete({n}): give an int in [0, {n}) "
                            "(a Python int, a NumPy integer or a one-element integer array)")
    return int(arr.reshape(-1)[0])


@lru_cache(maxsize=1)
def _font() -> Any:
    from PIL import ImageFont

    # matplotlib (a dependency) ships DejaVu Sans Mono: monospace keeps code columns aligned
    spec = find_spec("matplotlib")
    if spec is not None and spec.origin:
        mono = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSansMono.ttf"
        if mono.is_file():
            return ImageFont.truetype(str(mono), 10)
    return ImageFont.load_default(size=10)


def text_panel(text: str) -> np.ndarray:
    """``text`` drawn on a fixed-size dark panel: an (H, W, 3) uint8 RGB frame, lines past the edges cut."""
    try:
        from PIL import Image, ImageDraw
    except ImportError as e:
        raise DependencyNotInstalled("render_mode='rgb_array' needs Pillow: pip install pillow") from e
    width, height = PANEL_SIZE
    font = _font()
    cols = int((width - 12) // font.getlength("M"))
    lines = [line if len(line) <= cols else line[: cols - 1] + "~" for line in text.expandtabs(4).splitlines()]
    image = Image.new("RGB", PANEL_SIZE, (24, 24, 28))
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines[: (height - 8) // _LINE_HEIGHT]):
        draw.text((6, 4 + i * _LINE_HEIGHT), line, fill=(120, 200, 255) if i == 0 else (225, 225, 225), font=font)
    return np.asarray(image, dtype=np.uint8)


class PromptGymEnv(gym.Env):
    """Base of every promptgym env: argument checks, action parsing and the two render modes.

    A subclass calls :meth:`_check_modes` in ``__init__``, parses actions with :func:`as_action`
    and fills in :meth:`_render_text`; ``render()`` returns that text (``"ansi"``) or draws it
    (``"rgb_array"``, what SB3's ``make_vec_env`` asks for by default).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __new__(cls, *args: Any, **kwargs: Any) -> PromptGymEnv:
        # Before Python's own TypeError, which names the bad keyword but not the one meant.
        params = inspect.signature(cls.__init__).parameters
        bad = [k for k in kwargs if k not in params]
        if bad:
            raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {bad[0]!r}."
                            f"{did_you_mean(bad[0], [p for p in params if p != 'self'])}")
        return super().__new__(cls)

    def _check_modes(self, observation: str, render_mode: str | None) -> None:
        """Check and set ``observation_mode`` and ``render_mode``."""
        check_choice("observation mode", observation, OBSERVATIONS)
        if render_mode is not None:
            check_choice("render_mode", render_mode, self.metadata["render_modes"])
        self.observation_mode, self.render_mode = observation, render_mode

    def _render_text(self) -> str:
        """The episode panel as text (task, step, last action, pass fractions, code)."""
        raise NotImplementedError

    def render(self) -> str | np.ndarray | None:
        """The episode panel: text for ``"ansi"``, the same text as an RGB uint8 frame for ``"rgb_array"``."""
        if self.render_mode == "ansi":
            return self._render_text()
        if self.render_mode == "rgb_array":
            return text_panel(self._render_text())
        return None


def resolve_tasks(
    dataset: str,
    split: str | None,
    task_ids: Sequence[str] | None = None,
    tasks: Sequence[Task] | None = None,
) -> list[Task]:
    """The env's task pool: explicit ``tasks``, else ``dataset``/``split`` narrowed to ``task_ids``."""
    if isinstance(task_ids, str):
        raise TypeError(f"task_ids must be a list of ids, e.g. [{task_ids!r}], got the string {task_ids!r}")
    if tasks is not None:
        pool = list(tasks)
    else:
        pool = load_tasks(dataset, split=split, task_ids=None if task_ids is None else tuple(task_ids))
    if not pool:
        raise ValueError(f"No tasks selected (dataset={dataset!r}, split={split!r}, task_ids={task_ids!r})")
    return pool


def coerce_rewards(cls: type[R], value: R | dict[str, float] | None) -> R:
    """A rewards dataclass from an instance, a dict of its fields, or None (defaults)."""
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    if isinstance(value, dict):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        bad = [k for k in value if k not in names]
        if bad:
            raise ValueError(f"Unknown reward weight {bad[0]!r} for {cls.__name__}.{did_you_mean(bad[0], names)}")
        return cls(**value)
    raise TypeError(f"rewards must be a {cls.__name__} or a dict, got {type(value).__name__}")


def pick_task(tasks: Sequence[Task], np_random: np.random.Generator, options: dict[str, Any] | None) -> Task:
    """The episode's task: ``options["task_id"]`` when given, else one drawn with the env's ``np_random``."""
    task_id = (options or {}).get("task_id")
    if task_id is None:
        return tasks[int(np_random.integers(len(tasks)))]
    for task in tasks:
        if task.task_id == task_id:
            return task
    raise TaskNotFound(f"Task {task_id!r} is not in this env's tasks.{did_you_mean(task_id, [t.task_id for t in tasks])}")


class EnvParts:
    """The coder and sandbox an env uses, built on first use and rebuilt after unpickling.

    Envs are pickled by SubprocVecEnv and checkpoints; a live model or worker pool is not
    picklable, so only the specs travel and the parts are rebuilt where they land.
    """

    def __init__(
        self,
        coder: str | dict[str, Any] | Coder = "llama_cpp",
        sandbox: str | Sandbox = "process",
        sandbox_kwargs: dict[str, Any] | None = None,
    ) -> None:
        # Checked now, built on first use: a typo fails at gym.make, not at the first GENERATE.
        check_coder(coder)
        if isinstance(sandbox, str):
            from evaluators.sandbox import BACKENDS, Sandbox

            if sandbox not in BACKENDS:
                raise unknown("sandbox", sandbox, BACKENDS)
            check_keywords("sandbox_kwargs option", sandbox_kwargs or {},
                           [p for p in inspect.signature(Sandbox).parameters if p != "backend"])
        elif not callable(getattr(sandbox, "run", None)):
            raise TypeError(f"sandbox must be 'process', 'docker' or a Sandbox, got {type(sandbox).__name__}")
        self._coder_spec = coder
        self._sandbox_kwargs = dict(sandbox_kwargs or {})
        if isinstance(sandbox, str):
            self._sandbox_spec, self._sandbox = sandbox, None
            self._owns_sandbox = True
        else:
            self._sandbox_spec, self._sandbox = getattr(sandbox, "backend", "process"), sandbox
            self._owns_sandbox = False
        self._coder: Coder | None = coder if isinstance(coder, Coder) else None

    @property
    def coder(self) -> Coder:
        """The coder, built on first use."""
        if self._coder is None:
            self._coder = make_coder(self._coder_spec)
        return self._coder

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox, started on first use."""
        if self._sandbox is None:
            from evaluators import Sandbox

            self._sandbox = Sandbox(backend=self._sandbox_spec, **self._sandbox_kwargs)
            self._owns_sandbox = True
        return self._sandbox

    def close(self) -> None:
        """Stop the sandbox if this env started it."""
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
            self._sandbox = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sandbox"] = None  # worker pools do not travel; rebuilt on first use
        state["_owns_sandbox"] = True
        return state
