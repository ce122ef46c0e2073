//! One libuv loop for Rust and Python: a Rust program embeds Python, runs an `rt` TCP service
//! and an asyncio application on the same loop and thread, and each awaits the other.
//!
//! ```text
//! cargo run --features python --example python_embed
//! ```
//!
//! The Python application connects to the Rust service over loopback, sends a line and reads
//! the answer; it awaits a Rust future; a Rust task awaits one of its coroutines.

use std::ffi::CString;
use std::time::Duration;

use futures::{AsyncBufReadExt, AsyncWriteExt};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use rsuv::python::EventLoop;
use rsuv::rt::{TcpListener, TcpStream, sleep, spawn_local};

const APP: &str = r#"
import asyncio, socket

async def exchange(port, line):
    """One line to the Rust service and its answer, over a non-blocking socket watched
    with add_writer/add_reader."""
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setblocking(False)
    try:
        sock.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    ready = loop.create_future()
    loop.add_writer(sock, ready.set_result, None)
    await ready
    loop.remove_writer(sock)
    sock.send(line.encode() + b"\n")
    answer = b""
    while not answer.endswith(b"\n"):
        more = loop.create_future()
        loop.add_reader(sock, lambda: more.done() or more.set_result(sock.recv(4096)))
        answer += await more
        loop.remove_reader(sock)
    sock.close()
    return answer.decode().rstrip("\n")

async def double_later(x):
    await asyncio.sleep(0.01)
    return 2 * x

async def main(port, rust_value):
    answer = await exchange(port, "hello from python")
    print(f"python: the rust service answered {answer!r}")
    value = await rust_value
    print(f"python: awaited a rust future: {value}")
    return answer, value
"#;

/// The Rust service: answers each line with the line upper-cased.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            return;
        };
        spawn_local(answer(conn)).detach();
    }
}

async fn answer(conn: TcpStream) {
    let (reader, mut writer) = conn.into_split();
    let mut lines = futures::io::BufReader::new(reader).lines();
    use futures::StreamExt;
    while let Some(Ok(line)) = lines.next().await {
        let reply = format!("rust says: {}\n", line.to_uppercase());
        if writer.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = writer.close().await;
}

fn python_path(py: Python<'_>) -> PyResult<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/python");
    py.import("sys")?
        .getattr("path")?
        .call_method1("insert", (0, dir))?;
    Ok(())
}

fn run(py: Python<'_>) -> PyResult<()> {
    python_path(py)?;
    let lp = EventLoop::new(py)?;
    // The Rust service, on the loop the Python application runs on.
    let listener = lp.enter(py, || TcpListener::bind("127.0.0.1:0".parse().unwrap()))??;
    let port = listener.local_addr()?.port();
    lp.spawn_local(py, serve(listener))?.detach();
    println!("rust: service listening on 127.0.0.1:{port}");

    let app = PyModule::from_code(py, &CString::new(APP).unwrap(), c"app.py", c"app")?;
    // A Rust task awaiting a Python coroutine.
    let coro = app.getattr("double_later")?.call1((42,))?;
    let doubled = lp.into_future(py, &coro)?;
    lp.spawn_local(py, async move {
        let v = doubled.await;
        Python::attach(|py| match v.and_then(|v| v.extract::<i64>(py)) {
            Ok(v) => println!("rust: awaited a python coroutine: {v}"),
            Err(e) => println!("rust: the python coroutine failed: {e}"),
        });
    })?
    .detach();
    // A Rust future awaited by Python.
    let rust_value = lp.future_into_py(py, async {
        sleep(Duration::from_millis(5)).await;
        Python::attach(|py| Ok(7i64.into_pyobject(py)?.into_any().unbind()))
    })?;
    let main = app.getattr("main")?.call1((port, rust_value))?;
    let (answer, value): (String, i64) = lp.run_until_complete(py, &main)?.extract(py)?;
    assert_eq!(answer, "rust says: HELLO FROM PYTHON");
    assert_eq!(value, 7);
    // Let the Rust task that awaits double_later finish.
    let settle = py.import("asyncio")?.call_method1("sleep", (0.05,))?;
    lp.run_until_complete(py, &settle)?;
    lp.close(py)?;
    println!("one loop for rust and python: ok");
    Ok(())
}

fn main() {
    rsuv::python::prepare();
    Python::initialize();
    Python::attach(|py| {
        if let Err(e) = run(py) {
            e.print(py);
            std::process::exit(1);
        }
    });
}
