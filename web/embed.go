// Package web holds the browser pages drmpipe serve ships in its binary:
// the jobs page (web/jobs), a client of the jobs API. The demo player
// (web/player) and its libraries are served from the directory instead
// (drmpipe serve --demo --web-dir).
package web

import "embed"

// Jobs is the jobs page: index.html, jobs.js and jobs.css under "jobs/".
//
//go:embed jobs/index.html jobs/jobs.js jobs/jobs.css
var Jobs embed.FS
