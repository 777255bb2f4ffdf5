package catalogue

import (
	"regexp"
	"strconv"
	"strings"
)

// README is what the catalogue takes from a recipe's README.md: the title
// (`# Name`), the description (the `> …` quote under it) and the metadata
// block between `<!-- metadata -->` and `<!-- endmetadata -->`:
//
//   - **Category**: Apps
//   - **Status**: 3, stable
//   - **Image**: [`wordpress`](https://hub.docker.com/_/wordpress), 4, upstream
//   - **Healthcheck**: Yes
//   - **Backups**: Yes
//   - **Email**: 3
//   - **Tests**: 2
//   - **SSO**: No
//
// Two lines abra does not read are accepted as well: `* **Website**: <url>`
// and `* **Icon**: <url>`, since there is no forge API to ask for them.
type README struct {
	Title       string
	Description string
	Category    string
	Website     string
	Icon        string
	Features    Features
	// Warnings say what in the README could not be read (no metadata block,
	// a malformed status or image line); the rest is still used.
	Warnings []string
}

var (
	metadataLine = regexp.MustCompile(`^\s*[*-]\s*\*\*([^*]+?):?\*\*\s*:?\s*(.*?)\s*$`)
	leadingInt   = regexp.MustCompile(`^\d+`)
)

// ParseREADME reads a recipe README. It never fails: what is missing stays
// empty and is reported in Warnings.
func ParseREADME(b []byte) README {
	var r README
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	lines := strings.Split(text, "\n")
	r.Title, r.Description = titleAndDescription(lines)

	start := strings.Index(text, "<!-- metadata -->")
	end := strings.Index(text, "<!-- endmetadata -->")
	if start < 0 || end < start {
		r.Warnings = append(r.Warnings, "no <!-- metadata --> … <!-- endmetadata --> block")
		return r
	}
	for _, line := range strings.Split(text[start+len("<!-- metadata -->"):end], "\n") {
		m := metadataLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, value := strings.ToLower(strings.TrimSpace(m[1])), m[2]
		switch key {
		case "category":
			r.Category = value
		case "status":
			r.Features.Status = r.status(value)
		case "image":
			r.Features.Image = r.image(value)
		case "healthcheck":
			r.Features.Healthcheck = value
		case "backups":
			r.Features.Backups = value
		case "email":
			r.Features.Email = value
		case "tests":
			r.Features.Tests = value
		case "sso":
			r.Features.SSO = value
		case "website":
			r.Website = linkTarget(value)
		case "icon":
			r.Icon = linkTarget(value)
		}
	}
	return r
}

// titleAndDescription finds the first "# " heading and the block quote that
// follows it (several "> " lines are joined with spaces).
func titleAndDescription(lines []string) (title, description string) {
	i := 0
	for ; i < len(lines); i++ {
		if t, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "# "); ok {
			title = strings.TrimSpace(t)
			i++
			break
		}
	}
	var quote []string
	for ; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if q, ok := strings.CutPrefix(l, ">"); ok {
			if q = strings.TrimSpace(q); q != "" {
				quote = append(quote, q)
			}
			continue
		}
		if len(quote) > 0 || (l != "" && !strings.HasPrefix(l, "[![")) {
			// The quote ended, or prose came first: no description. Badge
			// lines before the quote are skipped.
			break
		}
	}
	return title, strings.Join(quote, " ")
}

// status reads "3", "3, stable" or "?" (0: unknown).
func (r *README) status(value string) int {
	if value == "" || value == "?" {
		return 0
	}
	n := leadingInt.FindString(value)
	if n == "" {
		r.Warnings = append(r.Warnings, "status "+strconv.Quote(value)+" is not a number 1-5")
		return 0
	}
	s, _ := strconv.Atoi(n)
	if s > 5 {
		r.Warnings = append(r.Warnings, "status "+strconv.Quote(value)+" is not a number 1-5")
		return 0
	}
	return s
}

// image reads "[`name`](url), rating, source".
func (r *README) image(value string) Image {
	fields := strings.Split(value, ",")
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	var img Image
	name := fields[0]
	if open, close := strings.Index(name, "["), strings.Index(name, "]"); open >= 0 && close > open {
		img.Image = name[open+1 : close]
		if u := name[close+1:]; strings.HasPrefix(u, "(") && strings.HasSuffix(u, ")") {
			img.URL = u[1 : len(u)-1]
		}
	} else {
		img.Image = name
	}
	img.Image = strings.ReplaceAll(img.Image, "`", "")
	if len(fields) < 3 {
		r.Warnings = append(r.Warnings, "image line "+strconv.Quote(value)+" is not '[name](url), rating, source'")
	}
	if len(fields) > 1 {
		img.Rating = fields[1]
	}
	if len(fields) > 2 {
		img.Source = strings.Join(fields[2:], ", ")
	}
	return img
}

// linkTarget returns the URL of "[text](url)", or value itself.
func linkTarget(value string) string {
	if i := strings.Index(value, "]("); i >= 0 && strings.HasSuffix(value, ")") {
		return value[i+2 : len(value)-1]
	}
	return strings.Trim(value, "<>")
}
