"""Running loops on several cores: a persistent thread pool, written in LLVM IR, that the JIT
links once per process and every shared library links once (so compiled Python functions
and C programs share one implementation).

Generated code calls two functions of the pool:

- ``i64 hyc_pool_threads()``: ``HYC_NUM_THREADS`` when set (read on each call; values below
  1 mean 1), else the number of online processors (asked once), at most ``MAX_THREADS``;
- ``void hyc_pool_run(body, captured, n, threads)``: runs ``body(captured, lo, hi)`` over
  ranges covering ``[0, n)`` on ``threads`` threads, the caller's included.

A call splits ``[0, n)`` into ``BLOCKS_PER_THREAD`` blocks per thread. Each thread first takes
its own blocks, always the same ones for the same ``n`` and thread count (so a core keeps
streaming the same part of a weight matrix from its own cache, call after call), then takes
the blocks nobody has started (so a worker whose vCPU is descheduled does not stall the
call). A block is claimed by a compare-and-swap on a word that holds the call's sequence
number, so a late worker never runs a block of another call.

Workers are started on first use and live as long as the process; between calls they spin
for a while (a model called in a loop finds them awake), then sleep on a futex. One call at
a time owns the pool: a call made while it is busy — from another thread, or from a body
already running on the pool — runs on its own thread (no oversubscription when nested).
After ``fork()`` the child has none of the workers: ``hyc_pool_forked`` (registered with
``os.register_at_fork`` by the JIT and with ``pthread_atfork`` by a library's runtime)
forgets them, and the child starts its own on its first parallel call.
"""

from __future__ import annotations

from llvmlite import ir

from . import scratch
from .lowering import count_loop, declared, internal_global, smaller
from .symbols import POOL_FORKED as FORKED
from .symbols import POOL_RUN as RUN
from .symbols import POOL_THREADS as THREADS
from .target import Target

I8 = ir.IntType(8)
I8P = ir.PointerType(I8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I64P = ir.PointerType(I64)
VOID = ir.VoidType()
BODY = ir.FunctionType(VOID, [I64P, I64, I64])
SIGNATURES = {RUN: ir.FunctionType(VOID, [ir.PointerType(BODY), I64P, I64, I64]),
              THREADS: ir.FunctionType(I64, []), FORKED: ir.FunctionType(VOID, [])}
MAX_THREADS = 16
BLOCKS_PER_THREAD = 4
SPIN = 1 << 16  # pauses a worker spins for before it sleeps (about 2 ms on a Zen 5)
YIELD_AFTER = 1 << 12  # pauses the caller spins for before it yields its core while it waits
SC_NPROCESSORS_ONLN = 84  # glibc's and musl's value
FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE = 128, 129
FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98}  # the syscall's number
# the spin-wait hint: (intrinsic, its arguments)
PAUSE = {"x86_64": ("llvm.x86.sse2.pause", []), "aarch64": ("llvm.aarch64.hint", [1]),
         "arm64": ("llvm.aarch64.hint", [1])}


def declare(module: ir.Module, name: str) -> ir.Function:
    """The runtime's function ``name`` (``RUN``, ``THREADS``, the scratch memory's), declared
    in generated code."""
    found = module.globals.get(name)
    return found if found is not None else ir.Function(module, EXPORTED[name], name)


def _const(value: int, type_: ir.Type = I64) -> ir.Constant:
    return ir.Constant(type_, value)


class _Pool:
    """The pool's state (module globals) and the builders of its functions."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.module = m = ir.Module("hyc.pool")
        m.triple, m.data_layout = target.triple, target.data_layout()
        arch = target.triple.split("-")[0]
        linux = "linux" in target.triple
        self.futex = FUTEX.get(arch) if linux else None
        self.pause_hint = PAUSE.get(arch)
        ints = ["seq", "signal", "sleepers", "busy", "started", "online", "n", "blocks",
                "threads", "remaining"]
        self.state = {name: self._global(name, I32 if name in ("signal", "sleepers", "busy")
                                         else I64) for name in ints}
        self.state["body"] = self._global("body", ir.PointerType(BODY))
        self.state["captured"] = self._global("captured", I64P)
        self.claims = self._global("claims", ir.ArrayType(I64, MAX_THREADS * BLOCKS_PER_THREAD))

    def _global(self, name: str, type_: ir.Type) -> ir.GlobalVariable:
        own_line = name in ("seq", "remaining", "claims")  # on cache lines of their own
        return internal_global(self.module, f"hyc.pool.{name}", type_, 64 if own_line else 8)

    def function(self, name: str, type_: ir.FunctionType, exported: bool) -> tuple[ir.Function, ir.IRBuilder]:
        fn = ir.Function(self.module, type_, name)
        if not exported:
            fn.linkage = "internal"
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    # -- small pieces ---------------------------------------------------------------------------
    def load(self, b: ir.IRBuilder, name: str, ordering: str = "monotonic") -> ir.Value:
        var = self.state[name]
        return b.load_atomic(var, ordering, var.type.pointee.width // 8 if
                             isinstance(var.type.pointee, ir.IntType) else 8)

    def store(self, b: ir.IRBuilder, name: str, value: ir.Value, ordering: str = "monotonic") -> None:
        var = self.state[name]
        b.store_atomic(value, var, ordering, var.type.pointee.width // 8 if
                       isinstance(var.type.pointee, ir.IntType) else 8)

    def add(self, b: ir.IRBuilder, name: str, amount: int) -> ir.Value:
        var = self.state[name]
        return b.atomic_rmw("add", var, ir.Constant(var.type.pointee, amount), "seq_cst")

    def pause(self, b: ir.IRBuilder) -> None:
        if self.pause_hint:
            name, args = self.pause_hint
            hint = declared(self.module, name, VOID, [I32] * len(args))
            b.call(hint, [_const(a, I32) for a in args])

    def futex_call(self, b: ir.IRBuilder, operation: int, value: ir.Value) -> None:
        syscall = declared(self.module, "syscall", I64, [I64], var_arg=True)
        b.call(syscall, [_const(self.futex or 0), self.state["signal"], _const(operation, I32),
                         value, ir.Constant(I8P, None)])

    # -- the functions ----------------------------------------------------------------------------
    def build(self) -> ir.Module:
        self.build_threads()
        claim = self.build_claim()
        worker = self.build_worker(claim)
        self.build_run(claim, worker)
        self.build_forked()
        return self.module

    def build_threads(self) -> None:
        fn, b = self.function(THREADS, SIGNATURES[THREADS], True)
        getenv = declared(self.module, "getenv", I8P, [I8P])
        atol = declared(self.module, "atol", I64, [I8P])
        sysconf = declared(self.module, "sysconf", I64, [I32])
        text = bytearray(b"HYC_NUM_THREADS\0")
        var = ir.GlobalVariable(self.module, ir.ArrayType(I8, len(text)), "hyc.pool.env")
        var.global_constant, var.linkage = True, "private"
        var.initializer = ir.Constant(ir.ArrayType(I8, len(text)), text)
        setting = b.call(getenv, [b.bitcast(var, I8P)])
        with b.if_else(b.icmp_unsigned("!=", setting, ir.Constant(I8P, None))) as (given, online):
            with given:
                from_env = b.call(atol, [setting])
                env_block = b.block
            with online:  # sysconf reads a file: once per process
                known = self.load(b, "online")
                with b.if_then(b.icmp_signed("<", known, _const(1)), likely=False):
                    self.store(b, "online", b.call(sysconf, [_const(SC_NPROCESSORS_ONLN, I32)]))
                processors = self.load(b, "online")
                online_block = b.block
        count = b.phi(I64)
        count.add_incoming(from_env, env_block)
        count.add_incoming(processors, online_block)
        b.ret(_clamp(b, count, 1, MAX_THREADS))

    def build_claim(self) -> ir.Function:
        """``claim(seq, participant)``: run blocks of call ``seq``, own ones first."""
        fn, b = self.function("hyc.pool.claim", ir.FunctionType(VOID, [I64, I64]), False)
        seq, participant = fn.args
        blocks, threads = self.load(b, "blocks"), self.load(b, "threads")
        n, body, captured = self.load(b, "n"), self.load(b, "body"), self.load(b, "captured")
        valid = b.and_(b.icmp_signed(">", blocks, _const(0)), b.icmp_signed("<", participant, threads))
        with b.if_then(valid):
            start = b.sdiv(b.mul(participant, blocks), threads)
            unclaimed = b.mul(seq, _const(2))

            def take(t: ir.Value) -> None:
                c = b.add(start, t)
                c = b.select(b.icmp_signed(">=", c, blocks), b.sub(c, blocks), c)
                word = b.gep(self.claims, [_const(0), c])
                result = b.cmpxchg(word, unclaimed, b.add(unclaimed, _const(1)), "seq_cst",
                                   "monotonic")
                with b.if_then(b.extract_value(result, 1)):
                    lower = b.sdiv(b.mul(n, c), blocks)
                    upper = b.sdiv(b.mul(n, b.add(c, _const(1))), blocks)
                    b.call(body, [captured, lower, upper])
                    self.add(b, "remaining", -1)

            count_loop(b, _const(0), blocks, take)
        b.ret_void()
        return fn

    def build_worker(self, claim: ir.Function) -> ir.Function:
        """``void* worker(participant)``: wait for calls, take blocks, forever."""
        fn, b = self.function("hyc.pool.worker", ir.FunctionType(I8P, [I8P]), False)
        participant = b.ptrtoint(fn.args[0], I64)
        seen = b.alloca(I64)
        b.store(_const(-1), seen)
        check, new, idle, asleep = (fn.append_basic_block(n) for n in ("check", "new", "idle", "sleep"))
        b.branch(check)
        b.position_at_end(check)
        seq = self.load(b, "seq", "acquire")
        b.cbranch(b.icmp_signed("!=", seq, b.load(seen)), new, idle)

        b.position_at_end(new)
        b.store(seq, seen)
        b.call(claim, [seq, participant])
        b.branch(check)

        b.position_at_end(idle)  # spin, watching for a call
        spin_head, spin_body = fn.append_basic_block("spin"), fn.append_basic_block("spin.body")
        b.branch(spin_head)
        b.position_at_end(spin_head)
        i = b.phi(I64)
        i.add_incoming(_const(0), idle)
        b.cbranch(b.icmp_signed("<", i, _const(SPIN)), spin_body, asleep)
        b.position_at_end(spin_body)
        self.pause(b)
        i.add_incoming(b.add(i, _const(1)), spin_body)
        moved = b.icmp_signed("!=", self.load(b, "seq", "acquire"), b.load(seen))
        b.cbranch(moved, check, spin_head)

        b.position_at_end(asleep)
        signal = self.load(b, "signal", "seq_cst")
        self.add(b, "sleepers", 1)
        with b.if_then(b.icmp_signed("==", self.load(b, "seq", "seq_cst"), b.load(seen))):
            if self.futex is not None:
                self.futex_call(b, FUTEX_WAIT_PRIVATE, signal)
            else:  # no futex: a short sleep, then look again
                usleep = declared(self.module, "usleep", I32, [I32])
                b.call(usleep, [_const(200, I32)])
        self.add(b, "sleepers", -1)
        b.branch(check)
        return fn

    def build_run(self, claim: ir.Function, worker: ir.Function) -> None:
        fn, b = self.function(RUN, SIGNATURES[RUN], True)
        body, captured, n, asked = fn.args
        serial = fn.append_basic_block("serial")
        threads = _clamp(b, smaller(b, n, asked), 1, MAX_THREADS)
        pooled = fn.append_basic_block("pooled")
        b.cbranch(b.icmp_signed(">", threads, _const(1)), pooled, serial)
        b.position_at_end(pooled)
        owned = b.cmpxchg(self.state["busy"], _const(0, I32), _const(1, I32), "acquire", "monotonic")
        start = fn.append_basic_block("start")
        b.cbranch(b.extract_value(owned, 1), start, serial)  # busy: nested, or another thread's

        b.position_at_end(start)
        self.start_workers(b, threads, worker)
        available = b.add(self.load(b, "started"), _const(1))
        threads = smaller(b, available, threads)
        blocks = smaller(b, n, b.mul(threads, _const(BLOCKS_PER_THREAD)))
        for name, value in (("body", body), ("captured", captured), ("n", n),
                            ("blocks", blocks), ("threads", threads), ("remaining", blocks)):
            self.store(b, name, value)
        seq = b.add(self.load(b, "seq"), _const(1))
        unclaimed = b.mul(seq, _const(2))
        count_loop(b, _const(0), blocks, lambda c: b.store_atomic(
            unclaimed, b.gep(self.claims, [_const(0), c]), "monotonic", 8))
        self.store(b, "seq", seq, "seq_cst")  # the call is published
        self.add(b, "signal", 1)
        if self.futex is not None:
            with b.if_then(b.icmp_signed(">", self.load(b, "sleepers", "seq_cst"), _const(0, I32))):
                self.futex_call(b, FUTEX_WAKE_PRIVATE, _const(2**31 - 1, I32))
        b.call(claim, [seq, _const(0)])
        self.wait_for_blocks(b)
        self.store(b, "busy", _const(0, I32), "release")
        b.ret_void()

        b.position_at_end(serial)
        b.call(body, [captured, _const(0), n])
        b.ret_void()

    def start_workers(self, b: ir.IRBuilder, threads: ir.Value, worker: ir.Function) -> None:
        """Workers 1 .. threads-1, those not started yet; a thread the system refuses is
        done without (the calls then use fewer threads)."""
        create = declared(self.module, "pthread_create", I32,
                          [I64P, I8P, ir.PointerType(worker.type.pointee), I8P])
        detach = declared(self.module, "pthread_detach", I32, [I64])
        identity = b.alloca(I64)
        fn = b.function
        head, make, made, done = (fn.append_basic_block(n) for n in
                                  ("workers", "workers.create", "workers.made", "workers.done"))
        b.branch(head)
        b.position_at_end(head)
        started = self.load(b, "started")
        b.cbranch(b.icmp_signed("<", b.add(started, _const(1)), threads), make, done)
        b.position_at_end(make)
        participant = b.add(started, _const(1))
        failed = b.call(create, [identity, ir.Constant(I8P, None), worker,
                                 b.inttoptr(participant, I8P)])
        b.cbranch(b.icmp_signed("==", failed, _const(0, I32)), made, done)
        b.position_at_end(made)
        b.call(detach, [b.load(identity)])
        self.store(b, "started", participant)
        b.branch(head)
        b.position_at_end(done)

    def wait_for_blocks(self, b: ir.IRBuilder) -> None:
        """Until every block is done: spin, then yield the core (a worker running a block
        may be waiting for it)."""
        sched_yield = declared(self.module, "sched_yield", I32, [])
        fn = b.function
        before = b.block
        head, waiting, done = (fn.append_basic_block(n) for n in ("wait", "wait.body", "wait.done"))
        b.branch(head)
        b.position_at_end(head)
        spins = b.phi(I64)
        spins.add_incoming(_const(0), before)
        left = self.load(b, "remaining", "acquire")
        b.cbranch(b.icmp_signed("!=", left, _const(0)), waiting, done)
        b.position_at_end(waiting)
        self.pause(b)
        with b.if_then(b.icmp_signed(">", spins, _const(YIELD_AFTER)), likely=False):
            b.call(sched_yield, [])
        spins.add_incoming(b.add(spins, _const(1)), b.block)
        b.branch(head)
        b.position_at_end(done)

    def build_forked(self) -> None:
        """In a child after fork(): no worker exists, and nobody owns the pool."""
        fn, b = self.function(FORKED, SIGNATURES[FORKED], True)
        for name in ("started",):
            self.store(b, name, _const(0))
        for name in ("sleepers", "busy"):
            self.store(b, name, _const(0, I32))
        b.ret_void()


# what the runtime's module defines for generated code: the pool's functions and the scratch
# memory's
EXPORTED = {**SIGNATURES, **scratch.SIGNATURES}


def runtime_module(target: Target) -> ir.Module:
    """The pool's functions for ``target``, and the scratch memory's."""
    module = _Pool(target).build()
    scratch.build(module)
    return module


def _clamp(b: ir.IRBuilder, value: ir.Value, low: int, high: int) -> ir.Value:
    value = b.select(b.icmp_signed("<", value, _const(low)), _const(low), value)
    return b.select(b.icmp_signed(">", value, _const(high)), _const(high), value)
