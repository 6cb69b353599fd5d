package server_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// openAPIDoc is the part of api/openapi.yaml the route check reads.
type openAPIDoc struct {
	OpenAPI    string                    `yaml:"openapi"`
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas struct {
			ErrorCode struct {
				Enum []string `yaml:"enum"`
			} `yaml:"ErrorCode"`
		} `yaml:"schemas"`
		SecuritySchemes map[string]any `yaml:"securitySchemes"`
	} `yaml:"components"`
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true}

// muxToOpenAPI maps a net/http ServeMux pattern ("GET /content/") to its
// OpenAPI method and path: a trailing-slash subtree becomes a {path}
// parameter, and "/{$}" (exact root) becomes "/".
func muxToOpenAPI(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	switch {
	case path == "/{$}":
		path = "/"
	case strings.HasSuffix(path, "/") && path != "/":
		path += "{path}"
	}
	return strings.ToLower(method), path
}

// TestOpenAPICoversEveryRoute parses api/openapi.yaml and checks both ways
// against the routes NewApp mounts with every optional feature on (demo
// mode, metrics, the three vendor upstreams, the key broker, the jobs API
// on its embedded queue): each mounted
// route is documented, and each documented operation is mounted. It also
// checks that the error codes listed are exactly those of internal/httperr.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	for _, s := range []string{"apiKey", "playbackToken", "brokerSignature"} {
		if doc.Components.SecuritySchemes[s] == nil {
			t.Errorf("security scheme %s missing", s)
		}
	}

	fpsCert := filepath.Join(t.TempDir(), "fps.der")
	if err := os.WriteFile(fpsCert, []byte{0x30, 0x00}, 0o644); err != nil {
		t.Fatal(err)
	}
	upstreams := "license:\n  upstreams:\n"
	for _, drm := range []string{"widevine", "playready", "fairplay"} {
		upstreams += "    " + drm + ":\n      type: passthrough\n      url: http://127.0.0.1:1/" + drm + "\n"
	}
	upstreams += "      certificate_file: " + fpsCert + "\n"
	a := startApp(t, brokerYAML+upstreams)
	mounted := map[string]bool{}
	for _, p := range a.Routes() {
		m, path := muxToOpenAPI(p)
		if m == "" {
			t.Errorf("route %q has no method", p)
			continue
		}
		mounted[m+" "+path] = true
		if _, ok := doc.Paths[path][m]; !ok {
			t.Errorf("mounted route %q is not in api/openapi.yaml (as %s %s)", p, strings.ToUpper(m), path)
		}
	}
	for _, want := range []string{"post /v1/broker/cpix", "get /v1/broker/cpix", "post /v1/admin/broker-urls", "get /metrics", "post /license/fairplay", "get /", "post /v1/jobs"} {
		if !mounted[want] {
			t.Errorf("test setup: %s not mounted (routes %v)", want, a.Routes())
		}
	}
	var documented []string
	for path, item := range doc.Paths {
		for m, op := range item {
			if !httpMethods[m] {
				continue
			}
			documented = append(documented, m+" "+path)
			fields, _ := op.(map[string]any)
			if !mounted[m+" "+path] {
				t.Errorf("api/openapi.yaml documents %s %s, which NewApp does not mount", strings.ToUpper(m), path)
			}
			if _, ok := fields["responses"]; !ok {
				t.Errorf("%s %s: no responses", m, path)
			}
		}
	}
	sort.Strings(documented)
	if len(documented) != len(mounted) {
		t.Errorf("%d operations documented, %d routes mounted", len(documented), len(mounted))
	}

	// The error codes are internal/httperr's, no more, no less.
	src, err := os.ReadFile(filepath.Join("..", "httperr", "httperr.go"))
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Code") && strings.Contains(line, "Code = \"") {
			_, v, _ := strings.Cut(line, "\"")
			codes = append(codes, strings.TrimSuffix(v, "\""))
		}
	}
	got := append([]string(nil), doc.Components.Schemas.ErrorCode.Enum...)
	sort.Strings(codes)
	sort.Strings(got)
	if len(codes) == 0 || strings.Join(codes, ",") != strings.Join(got, ",") {
		t.Errorf("ErrorCode enum %v, internal/httperr has %v", got, codes)
	}
}
