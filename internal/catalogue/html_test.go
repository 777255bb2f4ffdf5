package catalogue

import (
	"bytes"
	"strings"
	"testing"
)

func TestRenderHTML(t *testing.T) {
	c, err := Parse(readTestdata(t, "recipes.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := c["custom-html"]
	r.Description = `Serve <script>alert(1)</script> files`
	c["custom-html"] = r
	var buf bytes.Buffer
	if err := RenderHTML(&buf, c, HTMLOptions{Title: "Our recipes"}); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		"<title>Our recipes</title>",
		`<option>Apps</option><option>Development</option>`,
		`data-name="custom-html" data-category="Apps"`,
		`<a href="https://nginx.org">custom-html</a>`,
		"Latest version <code>0.2.0&#43;1.27.0</code>",
		"<td>0.2.0&#43;1.27.0</td><td>cron</td><td><code>mcuadros/ofelia:v0.3.0</code></td>",
		`title="sha256:0f2e3d4c5b6a79880f2e3d4c5b6a79880f2e3d4c5b6a79880f2e3d4c5b6a7988">0f2e3d4c5b6a</code>`,
		"Serve &lt;script&gt;alert(1)&lt;/script&gt; files",
		`<a href="https://git.coopcloud.tech/coop-cloud/custom-html.git">repository</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Newest version first in the table (html/template writes + as &#43;).
	if strings.Index(page, "<td>0.2.0&#43;1.27.0</td>") > strings.Index(page, "<td>0.1.0&#43;1.20.0</td>") {
		t.Error("versions not newest first")
	}
}
