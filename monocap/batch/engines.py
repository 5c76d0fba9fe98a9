"""Where a batch's inputs are processed: a local pool of worker processes, or Ray actors on a cluster.

Both engines run the same `Worker`: it builds one `Pipeline` when it
starts (loading the lifter once per process, not once per input) and then
processes one `Task` after the other, turning every error into a failed
`Outcome`, so that one bad input never stops a batch. An engine's
``process(tasks)`` takes a task from the iterator only when a worker is free
to start it, and yields each `Outcome` as it arrives; the driver (`run_batch`)
records it. A worker process that dies (killed, out of memory, a crash in a
native library) fails only the input it had, and a new worker takes its
place. A worker is also replaced after ``inputs_per_worker`` inputs
(default 100): the peak memory of a MediaPipe worker creeps up by about a
megabyte per input after its first dozen, and a fresh process bounds that
over thousands of inputs.

Local workers are started with the *spawn* method (MediaPipe's threads do
not survive a fork) and, on Linux, are killed by the kernel when the driver
dies, so a killed batch never leaves a worker writing into OUTDIR while the
next batch resumes there.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import resource
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Iterable, Iterator

from tqdm import tqdm

from ..cpus import usable_cpus
from ..detect2d.weights import sha256_of
from ..io.results import NPZ_NAME

ENGINES = ("local", "ray")
INPUTS_PER_WORKER = 100
# Settings for a Ray instance that a batch starts itself (no --address): no dashboard, a small object
# store (tasks and outcomes are a few hundred bytes; outputs go straight to OUTDIR).
RAY_LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Task:
    """One input to process: ``source`` (absolute path) into ``outdir/key/`` (``outdir`` absolute)."""

    key: str
    source: str
    outdir: str


@dataclass(frozen=True)
class Outcome:
    """How a `Task` ended.

    status: "ok", "empty" (processed, nobody tracked) or "failed".
    error: one line naming the input (failed only); warning: the pipeline's warnings, joined.
    frames, tracks: from the run; checksum: SHA-256 of the output's poses3d.npz.
    seconds: wall time in the worker; worker: host:pid; peak_rss_mb: that process's peak memory so far.
    """

    key: str
    status: str
    error: str | None = None
    warning: str | None = None
    frames: int | None = None
    tracks: int | None = None
    checksum: str | None = None
    seconds: float | None = None
    worker: str | None = None
    peak_rss_mb: float | None = None


class WorkerStartError(ValueError):
    """A worker could not build its pipeline (a bad model file, say): no input can be processed."""


class Worker:
    """One `Pipeline`, built once, that processes tasks one after the other.

    A worker owns one CPU (the local pool starts one per CPU, a Ray actor
    asks for one), so its 2D backend runs one thread and reads each video in
    one segment unless the options say otherwise: MediaPipe's threads crawl
    when they outnumber the idle cores.
    """

    def __init__(self, pipeline_options: dict, run_options: dict):
        from ..run import Pipeline

        options = dict(pipeline_options)
        if options.get("threads") is None:
            options["threads"] = 1
        if options.get("segments") is None:
            options["segments"] = 1
        self.pipeline = Pipeline(**options)
        self.run_options = run_options
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, task: Task) -> Outcome:
        start = time.perf_counter()
        folder = Path(task.outdir) / task.key
        warnings = _WarningCollector()
        logger = logging.getLogger("monocap")
        logger.addHandler(warnings)
        try:
            # The parent is made here, not by the pipeline: a pipeline that fails removes a parent it made,
            # which another worker may be about to write into.
            folder.parent.mkdir(parents=True, exist_ok=True)
            summary = self.pipeline.run(task.source, folder.parent, name=folder.name, progress=False,
                                        **self.run_options)
            status = "ok" if summary.tracks else "empty"
            result = dict(status=status, frames=summary.frames, tracks=summary.tracks,
                          checksum=sha256_of(summary.folder / NPZ_NAME))
        except (ValueError, OSError) as err:  # bad inputs: SourceError, unreadable files, ...
            result = dict(status="failed", error=_one_line(str(err), task.source))
        except Exception as err:  # anything else fails this input only, and says what it was
            result = dict(status="failed", error=_one_line(f"{type(err).__name__}: {err}", task.source))
        finally:
            logger.removeHandler(warnings)
        return Outcome(task.key, warning="; ".join(warnings.messages) or None,
                       seconds=time.perf_counter() - start, worker=self.name, peak_rss_mb=peak_rss_mb(), **result)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB (Linux reports it in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _WarningCollector(logging.Handler):
    """Keeps the text of every warning logged while it is attached."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _one_line(message: str, source: str) -> str:
    """An error as one line that names the input."""
    message = " ".join(message.split())
    return message if source in message else f"{source}: {message}"


# --- the local pool -------------------------------------------------------------------------------

class LocalPool:
    """``workers`` processes here, each with its own `Worker`, replaced after ``inputs_per_worker`` inputs."""

    def __init__(self, workers: int, inputs_per_worker: int = INPUTS_PER_WORKER):
        _check_counts(workers, inputs_per_worker)
        self.workers = workers
        self.inputs_per_worker = inputs_per_worker

    def process(self, tasks: Iterable[Task], pipeline_options: dict, run_options: dict) -> Iterator[Outcome]:
        context = multiprocessing.get_context("spawn")
        tasks = iter(tasks)
        idle: list[_Process] = []
        busy: dict[_Process, Task] = {}
        started: list[_Process] = []

        def start() -> _Process:
            proc = _Process(context, pipeline_options, run_options)
            started.append(proc)
            return proc

        try:
            more = True
            while True:
                # Workers start as tasks arrive: a batch with little left to do starts few.
                while more and (idle or len(busy) < self.workers):
                    task = next(tasks, None)
                    if task is None:
                        more = False
                        break
                    proc = idle.pop() if idle else start()
                    proc.send(task)
                    busy[proc] = task
                if not busy:
                    return
                ready = set(wait([p.conn for p in busy] + [p.process.sentinel for p in busy]))
                for proc in [p for p in busy if p.conn in ready or p.process.sentinel in ready]:
                    message = proc.receive()
                    task = busy.pop(proc)
                    if message is None:  # the process died without an answer
                        yield Outcome(task.key, "failed", error=f"{task.source}: the worker process died while "
                                      f"processing it ({proc.death()}); out of memory?", worker=proc.name)
                        proc.stop()
                    elif message[0] == "fatal":
                        raise WorkerStartError(f"a worker could not start: {message[1]}")
                    else:
                        yield message[1]
                        proc.done += 1
                        if proc.done < self.inputs_per_worker:
                            idle.append(proc)
                        else:
                            proc.stop()
        finally:
            for proc in started:
                proc.stop()


class _Process:
    """A spawned worker process and the pipe to it."""

    def __init__(self, context, pipeline_options: dict, run_options: dict):
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_local_worker_main, name="monocap-batch-worker", daemon=True,
                                       args=(child, pipeline_options, run_options, os.getpid()))
        self.process.start()
        child.close()
        self.name = f"{socket.gethostname()}:{self.process.pid}"
        self.done = 0  # inputs processed

    def send(self, task: Task) -> None:
        self.conn.send(task)

    def receive(self):
        """The worker's next message, or None when it died before sending one."""
        try:
            if self.conn.poll():
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        self.process.join(timeout=5)
        return None

    def death(self) -> str:
        code = self.process.exitcode
        if code is not None and code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exit status {code}"

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _local_worker_main(conn, pipeline_options: dict, run_options: dict, parent_pid: int) -> None:
    """A pool process: build the `Worker`, then answer each task until told to stop (None) or the pipe closes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the driver handles it
    # MediaPipe and TensorFlow Lite print start-up lines straight to the file descriptors, which would run
    # through the progress bar; everything a worker has to say travels in its outcomes.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    # tqdm would otherwise make a multiprocessing lock, which a worker killed mid-input leaves to Python's
    # resource tracker to clean up, with a warning about leaked semaphores.
    tqdm.set_lock(threading.RLock())
    try:
        worker = Worker(pipeline_options, run_options)
    except Exception as err:
        conn.send(("fatal", _start_error(err)))
        return
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        conn.send(("done", worker(task)))


def _check_counts(workers: int, inputs_per_worker: int) -> None:
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if inputs_per_worker < 1:
        raise ValueError(f"--inputs-per-worker must be at least 1, got {inputs_per_worker}")


def _start_error(err: Exception) -> str:
    """Why a worker could not start: a ValueError or OSError names the problem itself; others need their type."""
    return str(err) if isinstance(err, (ValueError, OSError)) else f"{type(err).__name__}: {err}"


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when the driver dies (SIGKILL included); a no-op elsewhere."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the driver died before the request was made
        os._exit(1)


# --- Ray ------------------------------------------------------------------------------------------

class RayPool:
    """``workers`` Ray actors (one CPU each), on the cluster at ``address`` or on a local Ray instance started here.

    On a cluster every node needs monocap installed, and the inputs and OUTDIR
    on a shared file system under the same absolute paths: workers read and
    write them directly, only tasks and outcomes travel through Ray.
    """

    def __init__(self, workers: int | None, address: str | None = None, inputs_per_worker: int = INPUTS_PER_WORKER):
        _check_counts(workers or 1, inputs_per_worker)
        self.workers = workers
        self.address = address
        self.inputs_per_worker = inputs_per_worker

    def process(self, tasks: Iterable[Task], pipeline_options: dict, run_options: dict) -> Iterator[Outcome]:
        try:
            import ray
        except ImportError:
            raise ValueError("--engine ray needs Ray: pip install 'monocap[cluster]' (or pip install ray)") from None
        from ray.exceptions import RayActorError, RayTaskError

        started_here = not ray.is_initialized()
        if started_here:
            if self.address is None:
                ray.init(num_cpus=self.workers or usable_cpus(), include_dashboard=False, log_to_driver=False,
                         object_store_memory=RAY_LOCAL_OBJECT_STORE_BYTES, logging_level=logging.WARNING)
            else:
                try:
                    ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
                except Exception as err:  # Ray raises ConnectionError, RuntimeError, ... for an unreachable cluster
                    hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                        "; a cluster with token authentication (what `ray start --head` sets up since Ray 2.59) "
                        "also needs RAY_AUTH_MODE=token here, with its token in RAY_AUTH_TOKEN or ~/.ray/auth_token")
                    raise ValueError(f"--address {self.address}: cannot connect to a Ray cluster there ({err}){hint}") \
                        from None
        actor_class = ray.remote(num_cpus=1)(_RayWorker)
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        tasks = iter(tasks)
        idle: list = []
        busy: dict = {}  # object ref -> (actor, task)
        done: dict = {}  # actor -> inputs processed
        try:
            more = True
            while True:
                while more and (idle or len(busy) < workers):
                    task = next(tasks, None)
                    if task is None:
                        more = False
                        break
                    actor = idle.pop() if idle else actor_class.remote(pipeline_options, run_options)
                    busy[actor.process.remote(task)] = (actor, task)
                if not busy:
                    return
                (ref,), _ = ray.wait(list(busy), num_returns=1)
                actor, task = busy.pop(ref)
                try:
                    kind, value = ray.get(ref)
                except RayActorError as err:
                    yield Outcome(task.key, "failed", error=_one_line(f"the Ray worker died while processing it "
                                                                      f"({type(err).__name__})", task.source))
                    ray.kill(actor)
                    continue
                except RayTaskError as err:
                    yield Outcome(task.key, "failed", error=_one_line(str(err.cause), task.source))
                    idle.append(actor)
                    continue
                if kind == "fatal":
                    raise WorkerStartError(f"a worker could not start: {value}")
                yield value
                done[actor] = done.get(actor, 0) + 1
                if done[actor] < self.inputs_per_worker:
                    idle.append(actor)
                else:
                    ray.kill(actor)
        finally:
            for actor in idle + [actor for actor, _ in busy.values()]:
                ray.kill(actor)
            if started_here:
                ray.shutdown()


class _RayWorker:
    """A `Worker` as a Ray actor; a failure to start is answered to every task, as on the local pool."""

    def __init__(self, pipeline_options: dict, run_options: dict):
        try:
            self.worker, self.error = Worker(pipeline_options, run_options), None
        except Exception as err:
            self.worker, self.error = None, _start_error(err)

    def process(self, task: Task) -> tuple[str, object]:
        if self.worker is None:
            return "fatal", self.error
        return "done", self.worker(task)


def create_engine(name: str, workers: int | None, address: str | None = None,
                  inputs_per_worker: int = INPUTS_PER_WORKER):
    """The engine called ``name`` ("local" or "ray"); ``workers`` None: one per CPU."""
    if name == "local":
        if address is not None:
            raise ValueError("--address is for --engine ray")
        return LocalPool(workers or usable_cpus(), inputs_per_worker)
    if name == "ray":
        return RayPool(workers, address, inputs_per_worker)
    raise ValueError(f"unknown engine {name!r}; expected one of {', '.join(ENGINES)}")
