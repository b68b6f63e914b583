//! `xfer sftp-serve`'s download path against a real client that pipelines:
//! runs of READs are answered in batches while earlier replies are still
//! being sent, and this checks that a client still sees what the protocol
//! promises. paramiko sends writes and reads back to back without waiting
//! for a reply (as its own prefetch and pipelined writes do), then reads
//! every reply in order, checking each one's request id, type and bytes.

mod support;

use std::time::Duration;
use support::have_paramiko;
use support::sftp_serve::XferSftpServe;

/// Requests sent without waiting, then each reply taken in order:
/// `_read_response(num)` returns the reply for `num` only if it is the next
/// one (a reply out of order is dropped, and the wait for it then hangs
/// until the test's time limit).
const PIPELINED: &str = r#"
import paramiko, socket, sys
from paramiko.sftp import CMD_WRITE, CMD_READ, CMD_DATA, CMD_STATUS, int64
sock = socket.create_connection(('127.0.0.1', PORT))
sock.settimeout(30)
t = paramiko.Transport(sock)
t.start_client(timeout=20)
t.auth_publickey(USER, paramiko.Ed25519Key.from_private_key_file(KEY))
sftp = paramiko.SFTPClient.from_transport(t)
# Kept: an SFTPFile closes its handle when collected.
mix_file, other_file = sftp.open('mix.bin', 'w+'), sftp.open('other.bin', 'r')
mix, other = mix_file.handle, other_file.handle
N = 250000
sent = []
def send(kind, *args):
    sent.append((sftp._async_request(type(None), kind, *args), args))
# Writes and reads of the same bytes, interleaved, none waited for.
send(CMD_WRITE, mix, int64(0), b'A' * N)
send(CMD_READ, mix, int64(0), 200000)
send(CMD_READ, mix, int64(200000), 200000)
send(CMD_WRITE, mix, int64(25000), b'B' * 50000)
send(CMD_READ, mix, int64(0), 100000)
send(CMD_READ, other, int64(3), 5)
send(CMD_READ, mix, int64(N), 10)
send(CMD_READ, b'no-such-handle', int64(0), 10)
send(CMD_READ, mix, int64(N - 10), 100)
for i in range(40):
    send(CMD_READ, other, int64(i * 10), 10)
got = []
for num, args in sent:
    kind, msg = None, None
    try:
        kind, msg = sftp._read_response(num)
    except EOFError:
        got.append('eof')
        continue
    except IOError as e:
        got.append('error')
        print('reply', len(got) - 1, 'error:', e, file=sys.stderr)
        continue
    if kind == CMD_STATUS:
        got.append('ok')
    elif kind == CMD_DATA:
        got.append(msg.get_binary())
    else:
        got.append('type %d' % kind)
expect = ['ok', b'A' * 200000, b'A' * 50000, 'ok',
          b'A' * 25000 + b'B' * 50000 + b'A' * 25000,
          OTHER[3:8], 'eof', 'error', b'A' * 10]
expect += [OTHER[i * 10:i * 10 + 10] if i * 10 < len(OTHER) else 'eof' for i in range(40)]
for i, (g, e) in enumerate(zip(got, expect)):
    if g != e:
        show = lambda v: v if isinstance(v, str) else 'bytes[%d] %r...' % (len(v), v[:12])
        sys.exit('reply %d: got %s, expected %s' % (i, show(g), show(e)))
assert len(got) == len(expect), (len(got), len(expect))
print('ok', len(got))
"#;

#[test]
fn pipelined_writes_and_reads_are_answered_in_order_with_the_bytes_written() {
    let Some(s) = XferSftpServe::start() else {
        return;
    };
    if !have_paramiko() {
        return;
    }
    let other: Vec<u8> = (0..345u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(s.root.join("other.bin"), &other).unwrap();
    let script = PIPELINED
        .replace("PORT", &s.addr.port().to_string())
        .replace("USER", &format!("'{}'", s.user))
        .replace("KEY", &format!("'{}'", s.key.display()))
        .replace(
            "OTHER",
            &format!("b'{}'", String::from_utf8(other).unwrap()),
        );
    let child = support::python(&script).spawn().unwrap();
    let out = support::wait::output_of(
        child,
        Duration::from_secs(60),
        "paramiko (hung: a reply missing or out of order?)",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok 49",
        "status {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
