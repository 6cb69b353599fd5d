package testtools

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// versityGWPackage is the S3 gateway the tools module (tools/go.mod) pins
// with a `tool` directive.
const versityGWPackage = "github.com/versity/versitygw/cmd/versitygw"

// VersityGW is a versitygw S3 gateway started for one test on loopback,
// with a posix backend in a temp dir (a bucket is a directory there).
type VersityGW struct {
	// Endpoint is the base URL (http://127.0.0.1:PORT) for path-style
	// requests.
	Endpoint string
	// Region, AccessKey and SecretKey sign requests (SigV4); the keys are
	// random per server.
	Region    string
	AccessKey string
	SecretKey string
	// Dir is the posix backend's root.
	Dir string
	// iamDir holds the gateway's internal IAM (accounts made with
	// CreateUser); the root account is not in it.
	iamDir string

	bin  string
	port int
	log  string
	proc toolProcess
}

// versityGWBuild builds versitygw once per test process (reusing an earlier
// build for the same tools/go.sum; the first build takes about a minute).
var versityGWBuild = &toolBuild{pkg: versityGWPackage, name: "versitygw"}

// StartVersityGW starts versitygw on a free loopback port with random root
// credentials and its data in a temp dir, waits until it accepts
// connections, and stops it when the test ends. It fails (never skips)
// when versitygw cannot be built or does not come up.
func StartVersityGW(t testing.TB) *VersityGW {
	t.Helper()
	g := &VersityGW{
		bin:       versityGWBuild.binary(t),
		Region:    "us-east-1",
		AccessKey: "drmpipe" + RandomHex(t, 6),
		SecretKey: RandomHex(t, 20),
		Dir:       filepath.Join(t.TempDir(), "s3"),
	}
	g.iamDir = filepath.Join(filepath.Dir(g.Dir), "iam")
	for _, d := range []string{g.Dir, g.iamDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(g.Stop)
	launchOnFreePort(t, "versitygw", filepath.Dir(g.Dir), func(port int, logPath string) error {
		g.port, g.log = port, logPath
		return g.launch()
	})
	return g
}

func (g *VersityGW) launch() error {
	addr := fmt.Sprintf("127.0.0.1:%d", g.port)
	g.Endpoint = "http://" + addr
	cmd := exec.Command(g.bin, "--port", addr, "--iam-dir", g.iamDir, "posix", g.Dir)
	// Credentials in the environment, not on the command line (ps).
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+g.AccessKey, "ROOT_SECRET_KEY="+g.SecretKey)
	return g.proc.start(cmd, g.log, addr)
}

// Stop kills the server and waits for it to exit (tests use it to cut an
// upload short). It is safe to call more than once.
func (g *VersityGW) Stop() { g.proc.stop() }

// Restart starts a stopped server again on the same port and data.
func (g *VersityGW) Restart(t testing.TB) {
	t.Helper()
	g.Stop()
	if err := g.launch(); err != nil {
		log, _ := os.ReadFile(g.log)
		t.Fatalf("testtools: versitygw did not come back on %s: %v\n%s", g.Endpoint, err, log)
	}
}

// Env is the AWS environment that points drmpipe (or any AWS SDK) at the
// server: credentials, region and AWS_ENDPOINT_URL_S3.
func (g *VersityGW) Env() []string { return g.envOf(g.AccessKey, g.SecretKey) }

func (g *VersityGW) envOf(accessKey, secretKey string) []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + accessKey,
		"AWS_SECRET_ACCESS_KEY=" + secretKey,
		"AWS_REGION=" + g.Region,
		"AWS_ENDPOINT_URL_S3=" + g.Endpoint,
	}
}

// Client returns an S3 client for the server (path-style, root
// credentials), for tests to set up and inspect buckets.
func (g *VersityGW) Client() *s3.Client { return g.ClientAs(g.AccessKey, g.SecretKey) }

// ClientAs is Client with an account's credentials (CreateUser).
func (g *VersityGW) ClientAs(accessKey, secretKey string) *s3.Client {
	return s3.New(s3.Options{
		Region:       g.Region,
		BaseEndpoint: aws.String(g.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates bucket name.
func (g *VersityGW) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if _, err := g.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("testtools: create bucket %s: %v", name, err)
	}
}

// PutFile uploads the local file at path as bucket/key.
func (g *VersityGW) PutFile(t testing.TB, bucket, key, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	g.Put(t, bucket, key, f)
}

// Put uploads body as bucket/key.
func (g *VersityGW) Put(t testing.TB, bucket, key string, body io.ReadSeeker) {
	t.Helper()
	if _, err := g.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: body}); err != nil {
		t.Fatalf("testtools: put s3://%s/%s: %v", bucket, key, err)
	}
}

// Objects returns the keys under prefix in bucket with their bytes.
func (g *VersityGW) Objects(t testing.TB, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	c := g.Client()
	objs := map[string][]byte{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("testtools: list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("testtools: get s3://%s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
			var b strings.Builder
			_, err = io.Copy(&b, out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatalf("testtools: get s3://%s/%s: %v", bucket, aws.ToString(o.Key), err)
			}
			objs[aws.ToString(o.Key)] = []byte(b.String())
		}
	}
	return objs
}

// Pause stops the server process (SIGSTOP): requests hang until Resume, as
// with a store that stopped answering.
func (g *VersityGW) Pause(t testing.TB) {
	t.Helper()
	if err := g.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatalf("testtools: pause versitygw: %v", err)
	}
	t.Cleanup(func() { _ = g.proc.cmd.Process.Signal(syscall.SIGCONT) })
}

// Resume continues a paused server (SIGCONT).
func (g *VersityGW) Resume(t testing.TB) {
	t.Helper()
	if err := g.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("testtools: resume versitygw: %v", err)
	}
}

// CreateUser adds an account with the role "user" to the gateway's IAM
// (versitygw admin create-user): it may do only what bucket policies
// grant it. It returns the AWS environment of the account, as Env does
// for root.
func (g *VersityGW) CreateUser(t testing.TB, accessKey, secretKey string) []string {
	t.Helper()
	cmd := exec.Command(g.bin, "admin", "--er", g.Endpoint, "create-user", "--access", accessKey, "--secret", secretKey, "--role", "user")
	// The root credentials in the environment, not on the command line.
	cmd.Env = append(os.Environ(), "ADMIN_ACCESS_KEY_ID="+g.AccessKey, "ADMIN_SECRET_ACCESS_KEY="+g.SecretKey, "ADMIN_REGION="+g.Region)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testtools: versitygw admin create-user %s: %v\n%s", accessKey, err, out)
	}
	return g.envOf(accessKey, secretKey)
}

// PutBucketPolicy sets bucket's policy (an AWS IAM policy document, JSON).
func (g *VersityGW) PutBucketPolicy(t testing.TB, bucket, policy string) {
	t.Helper()
	if _, err := g.Client().PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: aws.String(bucket), Policy: aws.String(policy)}); err != nil {
		t.Fatalf("testtools: put policy of bucket %s: %v", bucket, err)
	}
}
