package testtools

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ResetWhenSent closes c the way a client that exits mid-request does on
// Linux: once the peer's kernel has acknowledged every byte written (so
// the server reads all of it), the socket is closed with SO_LINGER 0,
// which sends a reset (RFC 9293 §3.10.7.4) instead of a FIN; the server's
// next read fails with ECONNRESET.
func ResetWhenSent(t testing.TB, c *net.TCPConn) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); unacked(t, c) > 0 && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
	}
	if err := c.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

// unacked is the number of bytes c's kernel has not yet had acknowledged
// by the peer (SIOCOUTQ, Linux tcp(7)).
func unacked(t testing.TB, c *net.TCPConn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var ioErr error
	if err := rc.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) }); err != nil || ioErr != nil {
		t.Fatalf("SIOCOUTQ: %v %v", err, ioErr)
	}
	return n
}
