package observability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard checks deploy/grafana-dashboard.json: valid JSON of
// an importable dashboard, every drmpipe metric it queries is one this
// package defines, and the panels the operations issue asks for are there.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		SchemaVersion int    `json:"schemaVersion"`
		Title         string `json:"title"`
		UID           string `json:"uid"`
		Panels        []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.SchemaVersion < 36 || d.Title == "" || d.UID == "" {
		t.Errorf("schemaVersion %d title %q uid %q", d.SchemaVersion, d.Title, d.UID)
	}
	var dsVar bool
	for _, v := range d.Templating.List {
		dsVar = dsVar || (v.Type == "datasource" && v.Query == "prometheus")
	}
	if !dsVar {
		t.Error("no Prometheus datasource variable")
	}

	known := map[string]bool{}
	for _, f := range allFamilies {
		known[f] = true
	}
	metricRe := regexp.MustCompile(`\bdrmpipe_[a-z_]+`)
	used := map[string]bool{}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
			for _, m := range metricRe.FindAllString(tg.Expr, -1) {
				base := m
				for _, suf := range []string{"_bucket", "_count", "_sum"} {
					if strings.HasSuffix(m, suf) && known[strings.TrimSuffix(m, suf)] {
						base = strings.TrimSuffix(m, suf)
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries unknown metric %s", p.Title, m)
				}
				used[base] = true
			}
		}
	}
	for _, f := range allFamilies {
		if !used[f] {
			t.Errorf("metric %s is on no panel", f)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{
		"histogram_quantile(0.5, sum by (le, drm, vendor) (rate(" + MetricLicenseDuration + "_bucket",
		"histogram_quantile(0.99, sum by (le, drm, vendor) (rate(" + MetricLicenseDuration + "_bucket",
		"histogram_quantile(0.999, sum by (le, drm, vendor) (rate(" + MetricLicenseDuration + "_bucket",
		"vector(0.25)", // the SLO line
		`le="0.25"`,    // share under the SLO, exact because 0.25 is a bucket bound
	} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel query contains %s", want)
		}
	}
}
