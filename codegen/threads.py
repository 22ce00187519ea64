"""Running loops on several cores: the outermost loop of a large ``buf.parallel`` (or the rows
of a large matmul) is split into ranges, one per thread, with POSIX threads from the
generated code itself.

The loop is outlined into ``void body(i64* captured, i64 lo, i64 hi)``: the values it uses
from outside travel packed as in the calling convention. ``hyc.run_parallel`` runs ranges of
``[0, n)`` on ``threads`` threads (the caller's thread takes the first), and
``hyc.thread_count`` reads ``HYC_NUM_THREADS`` or else the number of online processors
(at most 16). Small loops stay on the calling thread: starting a thread costs tens of
microseconds.
"""

from __future__ import annotations

from llvmlite import ir

I8 = ir.IntType(8)
I8P = ir.PointerType(I8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I64P = ir.PointerType(I64)
BODY = ir.FunctionType(ir.VoidType(), [I64P, I64, I64])
MAX_THREADS = 16
SC_NPROCESSORS_ONLN = 84  # glibc's value


def _declare(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    found = module.globals.get(name)
    return found if found is not None else ir.Function(module, ir.FunctionType(ret, args), name)


def thread_count(module: ir.Module) -> ir.Function:
    name = "hyc.thread_count"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I64, []), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    getenv = _declare(module, "getenv", I8P, [I8P])
    atol = _declare(module, "atol", I64, [I8P])
    sysconf = _declare(module, "sysconf", I64, [I32])
    text = bytearray(b"HYC_NUM_THREADS\0")
    var = ir.GlobalVariable(module, ir.ArrayType(I8, len(text)), "hyc.env.threads")
    var.global_constant, var.linkage = True, "private"
    var.initializer = ir.Constant(ir.ArrayType(I8, len(text)), text)
    setting = b.call(getenv, [b.bitcast(var, I8P)])
    given = b.icmp_unsigned("!=", setting, ir.Constant(I8P, None))
    with b.if_else(given) as (then, otherwise):
        with then:
            from_env = b.call(atol, [setting])
            env_block = b.block
        with otherwise:
            online = b.call(sysconf, [ir.Constant(I32, SC_NPROCESSORS_ONLN)])
            sys_block = b.block
    count = b.phi(I64)
    count.add_incoming(from_env, env_block)
    count.add_incoming(online, sys_block)
    at_least_one = b.select(b.icmp_signed("<", count, ir.Constant(I64, 1)), ir.Constant(I64, 1), count)
    capped = b.select(b.icmp_signed(">", at_least_one, ir.Constant(I64, MAX_THREADS)),
                      ir.Constant(I64, MAX_THREADS), at_least_one)
    b.ret(capped)
    return fn


def _worker(module: ir.Module) -> ir.Function:
    """``void* worker(i64 task[4])``: task = {body, captured, lo, hi}."""
    name = "hyc.worker"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(I8P, [I8P]), name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    task = b.bitcast(fn.args[0], I64P)
    fields = [b.load(b.gep(task, [ir.Constant(I64, i)])) for i in range(4)]
    body = b.inttoptr(fields[0], ir.PointerType(BODY))
    b.call(body, [b.inttoptr(fields[1], I64P), fields[2], fields[3]])
    b.ret(ir.Constant(I8P, None))
    return fn


def run_parallel(module: ir.Module) -> ir.Function:
    """``void run_parallel(body, captured, n, threads)``."""
    name = "hyc.run_parallel"
    if name in module.globals:
        return module.globals[name]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType(BODY), I64P, I64, I64]),
                     name)
    fn.linkage = "internal"
    body, captured, n, threads = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    create = _declare(module, "pthread_create", I32,
                      [I64P, I8P, ir.PointerType(ir.FunctionType(I8P, [I8P])), I8P])
    join = _declare(module, "pthread_join", I32, [I64, ir.PointerType(I8P)])
    one = ir.Constant(I64, 1)
    helpers = b.sub(threads, one)
    ids = b.alloca(I64, b.add(helpers, one))
    tasks = b.alloca(I64, b.mul(b.add(helpers, one), ir.Constant(I64, 4)))
    body_address = b.ptrtoint(body, I64)
    captured_address = b.ptrtoint(captured, I64)
    worker = _worker(module)

    def bound(w: ir.Value) -> ir.Value:
        return b.sdiv(b.mul(n, w), threads)

    def spawn(w: ir.Value) -> None:  # threads 1 .. helpers take the later ranges
        task = b.gep(tasks, [b.mul(w, ir.Constant(I64, 4))])
        values = [body_address, captured_address, bound(w), bound(b.add(w, one))]
        for i, value in enumerate(values):
            b.store(value, b.gep(task, [ir.Constant(I64, i)]))
        failed = b.call(create, [b.gep(ids, [w]), ir.Constant(I8P, None), worker, b.bitcast(task, I8P)])
        with b.if_then(b.icmp_signed("!=", failed, ir.Constant(I32, 0)), likely=False):
            # No thread to be had: this range runs here, and there is nothing to join.
            b.call(body, [captured, values[2], values[3]])
            b.store(ir.Constant(I64, 0), b.gep(ids, [w]))

    _count_loop(b, one, threads, spawn)
    b.call(body, [captured, ir.Constant(I64, 0), bound(one)])
    def wait(w: ir.Value) -> None:
        thread = b.load(b.gep(ids, [w]))
        with b.if_then(b.icmp_unsigned("!=", thread, ir.Constant(I64, 0))):
            b.call(join, [thread, ir.Constant(ir.PointerType(I8P), None)])

    _count_loop(b, one, threads, wait)
    b.ret_void()
    return fn


def _count_loop(b: ir.IRBuilder, start: ir.Value, end: ir.Value, body) -> None:
    before = b.block
    head = b.append_basic_block("threads")
    after = b.append_basic_block("threads.done")
    b.cbranch(b.icmp_signed("<", start, end), head, after)
    b.position_at_end(head)
    w = b.phi(I64)
    w.add_incoming(start, before)
    body(w)
    following = b.add(w, ir.Constant(I64, 1))
    w.add_incoming(following, b.block)
    b.cbranch(b.icmp_signed("<", following, end), head, after)
    b.position_at_end(after)
