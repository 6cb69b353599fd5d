package testtools

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestStartRedisAndPostgres(t *testing.T) {
	r := StartRedis(t)
	c, err := net.Dial("tcp", r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("PING\r\n"))
	buf := make([]byte, 7)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("redis answered %q", buf[:n])
	}
	c.Close()
	r.Stop()
	if _, err := net.Dial("tcp", r.Addr); err == nil {
		t.Error("redis still answers after Stop")
	}
	r.Start(t)
	if c, err := net.Dial("tcp", r.Addr); err != nil {
		t.Errorf("redis not back on %s after Start: %v", r.Addr, err)
	} else {
		c.Close()
	}
	p := StartPostgres(t)
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p.Port)); err != nil {
		t.Fatalf("postgres not listening: %v", err)
	} else {
		c.Close()
	}
}

// TestStartVersityGW builds (once) and starts versitygw, and round-trips
// an object through it, then restarts it on the same data. `make deps`
// runs it, so a machine that cannot build the gateway fails there.
func TestStartVersityGW(t *testing.T) {
	g := StartVersityGW(t)
	g.CreateBucket(t, "deps-check")
	g.Put(t, "deps-check", "a/b.txt", strings.NewReader("hello"))
	g.Restart(t)
	objs := g.Objects(t, "deps-check", "a/")
	if string(objs["a/b.txt"]) != "hello" || len(objs) != 1 {
		t.Fatalf("objects after restart: %q", objs)
	}
}
