package testtools

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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

// TestVersityGWUserPolicy: an account made with CreateUser may do what
// its bucket policy grants (read one bucket, write one prefix of another)
// and is refused the rest.
func TestVersityGWUserPolicy(t *testing.T) {
	g := StartVersityGW(t)
	g.CreateBucket(t, "inputs")
	g.CreateBucket(t, "outputs")
	g.Put(t, "inputs", "a.txt", strings.NewReader("hello"))
	g.CreateUser(t, "reader1", "reader1-secret")
	g.PutBucketPolicy(t, "inputs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["reader1"]},"Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::inputs","arn:aws:s3:::inputs/*"]}]}`)
	g.PutBucketPolicy(t, "outputs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["reader1"]},"Action":["s3:PutObject"],"Resource":["arn:aws:s3:::outputs/mine/*"]}]}`)
	c := g.ClientAs("reader1", "reader1-secret")
	ctx := context.Background()
	if _, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("inputs"), Key: aws.String("a.txt")}); err != nil {
		t.Errorf("get inputs/a.txt: %v", err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("outputs"), Key: aws.String("mine/b.txt"), Body: strings.NewReader("x")}); err != nil {
		t.Errorf("put outputs/mine/b.txt: %v", err)
	}
	for _, k := range []struct{ bucket, key string }{{"outputs", "other/b.txt"}, {"inputs", "b.txt"}} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(k.bucket), Key: aws.String(k.key), Body: strings.NewReader("x")})
		if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
			t.Errorf("put %s/%s: %v, want AccessDenied", k.bucket, k.key, err)
		}
	}
}
