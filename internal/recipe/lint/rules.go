package lint

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/cli/cli/compose/loader"

	"coopcloud.tech/abra/internal/envfile"
	"coopcloud.tech/abra/internal/guard"
	"coopcloud.tech/abra/internal/recipe"
	"coopcloud.tech/abra/internal/stack"
)

// rules is the rule table. Ids are stable: never renumber, only add.
var rules = []Rule{
	{
		ID: "R001", Severity: Warn,
		Description:  "compose files declare a version",
		HowToResolve: `add version: "3.8" at the top of each compose file`,
		Check:        checkComposeVersion,
	},
	{
		ID: "R002", Severity: Warn,
		Description:  "every service has a healthcheck",
		HowToResolve: "add a healthcheck to each service, so that a deploy waits until it really works",
		Check:        checkHealthchecks,
	},
	{
		ID: "R003", Severity: Critical,
		Description:  "all images use a tag",
		HowToResolve: "pin every image to a tag (mariadb:10.6) or digest; an untagged image is whatever latest is on deploy day",
		Check:        checkImagesTagged,
	},
	{
		ID: "R004", Severity: Warn,
		Description:  "no unstable tags",
		HowToResolve: "replace latest, main, master, edge, nightly and dev with a release tag",
		Check:        checkNoUnstableTags,
	},
	{
		ID: "R005", Severity: Warn,
		Description:  "image tags are semver-like",
		HowToResolve: "use version tags such as 1.2.3 or 1.2-alpine, so that upgrades can be found and compared",
		Check:        checkSemverLikeTags,
	},
	{
		ID: "R006", Severity: Warn,
		Description:  "a version is published",
		HowToResolve: "release a version: an annotated <major>.<minor>.<patch>+<upstream> tag (abra recipe release)",
		Check:        checkPublishedVersion,
	},
	{
		ID: "R007", Severity: Warn,
		Description:  "README.md metadata filled in",
		HowToResolve: "fill in Category, Status, Image, Healthcheck, Backups, Email, Tests and SSO between <!-- metadata --> and <!-- endmetadata --> in README.md",
		Check:        checkReadmeMetadata,
	},
	{
		ID: "R008", Severity: Critical,
		Description:  ".env.sample provided",
		HowToResolve: "add a .env.sample with TYPE=<recipe>, DOMAIN= and every setting an operator may change; 'abra app new' copies it",
		Check:        checkEnvSample,
	},
	{
		ID: "R009", Severity: Critical,
		Description:  `a service named "app"`,
		HowToResolve: `name the main service "app": abra puts its labels there and commands default to it`,
		Check:        checkAppService,
	},
	{
		ID: "R010", Severity: Warn,
		Description:  "traefik routing enabled",
		HowToResolve: `add the deploy label "traefik.enable=true" to the web-facing service (recipes without a web UI can ignore this)`,
		Check:        checkTraefikEnabled,
	},
	{
		ID: "R011", Severity: Critical,
		Description:  "every service has an image",
		HowToResolve: `set "image:" on every service (swarm cannot build images), and declare in .env.sample any variable it uses`,
		Check:        checkImagePresent,
	},
	{
		ID: "R012", Severity: Critical,
		Description:  "config versions are exported by abra.sh",
		HowToResolve: "name each config ${STACK_NAME}_<name>_${<NAME>_VERSION} and add 'export <NAME>_VERSION=v1' to abra.sh; bump it whenever the file changes",
		Check:        checkConfigVersionsExported,
	},
	{
		ID: "R013", Severity: Warn,
		Description:  "the recipe has a public repository",
		HowToResolve: "publish the recipe (on git.coopcloud.tech for the catalogue) and make it the clone's origin: git remote add origin <url>",
		Check:        checkOrigin,
	},
	{
		ID: "R014", Severity: Warn,
		Description:  "release tags are annotated",
		HowToResolve: "replace each lightweight tag with an annotated one: git tag -d <tag> && git tag -a <tag> -m <tag> <commit>",
		Check:        checkAnnotatedTags,
	},
	{
		ID: "R015", Severity: Critical,
		Description:  "secret and config names fit Docker's 64 characters",
		HowToResolve: "shorten the secret or config key: with the longest STACK_NAME (45 characters) <stack>_<name>_<version> must stay within 64",
		Check:        checkNameLengths,
	},
	{
		ID: "R016", Severity: Critical,
		Description:  "scheduled jobs rest at 0 replicas and are never restarted by swarm",
		HowToResolve: "give each service with swarm.cronjob.enable=true deploy.mode: replicated, replicas: 0 and restart_policy.condition: none: the scheduler (abra-agent) scales it up for a run and back to 0 after; with replicas above 0 every deploy runs the job as well, and with another restart policy swarm restarts a failed run (with any, every run) in a loop",
		Check:        checkJobDeploy,
	},
	{
		ID: "R017", Severity: Critical,
		Description:  "scheduled jobs' swarm.cronjob labels parse",
		HowToResolve: "write the schedule as 5 cron fields (0 3 * * *), 6 with seconds first (*/30 * * * * *) or a descriptor (@daily, @every 6h), the enable, skip-running, registry-auth and query-registry labels as true or false, and replicas as a number of at least 1; a schedule from a variable (${BACKUP_SCHEDULE}) is checked when an app is deployed",
		Check:        checkJobLabels,
	},
	{
		ID: "R101", Severity: Critical,
		Description:  "compose files load",
		HowToResolve: "fix the compose files until 'abra app deploy --chaos' loads them: valid YAML, options swarm supports, every service with an image",
		Check:        checkComposeLoads,
	},
	{
		ID: "R102", Severity: Critical,
		Description:  "routes and names are per app (${DOMAIN}, ${STACK_NAME})",
		HowToResolve: "use Host(`${DOMAIN}`) in router rules and ${STACK_NAME} in router, service and middleware names: the compose file must serve any app's domain",
		Check:        checkPerApp,
	},
	{
		ID: "R103", Severity: Warn,
		Description:  "traefik, config and secret names include ${STACK_NAME}",
		HowToResolve: "prefix each name with ${STACK_NAME} so two apps of the recipe on one server do not collide (a recipe deployed once per server, like traefik, may keep fixed names)",
		Check:        checkNamesPerApp,
	},
	{
		ID: "R104", Severity: Critical,
		Description:  "configs changed since the last release have a new version",
		HowToResolve: "bump the config's *_VERSION in abra.sh: swarm configs are immutable, so an upgrade with changed content under the old name fails",
		Check:        checkConfigsBumped,
	},
	{
		ID: "R105", Severity: Warn,
		Description:  "variables without a default are declared in .env.sample",
		HowToResolve: "add each variable to .env.sample (commented out, #VAR=, when optional), or give it a default: ${VAR:-value}",
		Check:        checkVariablesDeclared,
	},
	{
		ID: "R106", Severity: Critical,
		Description:  "the version label matches the latest release",
		HowToResolve: "set the deploy label coop-cloud.${STACK_NAME}.version=<release> on the app service when releasing (abra recipe release does)",
		Check:        checkVersionLabel,
	},
	{
		ID: "R107", Severity: Critical,
		Description:  "files the recipe makes abra read lie inside it",
		HowToResolve: "name files relative to the recipe (no absolute paths, no .. climbing out) and replace symlinks that are absolute or lead out of the recipe with the files themselves: abra refuses to read, and ship to a server, files outside the recipe",
		Check:        checkFilesInside,
	},
	{
		ID: "R108", Severity: Critical,
		Description:  "config, secret and env_file files exist",
		HowToResolve: "add the file to the recipe, or fix the path: it is relative to the recipe's top directory",
		Check:        checkFilesExist,
	},
	{
		ID: "R109", Severity: Critical,
		Description:  "services use only declared secrets, configs, networks and volumes",
		HowToResolve: "declare each secret, config, network and named volume a service uses in the top-level section of that name (external: true for ones made outside the recipe), or fix its name",
		Check:        checkReferencesDeclared,
	},
	{
		ID: "R110", Severity: Critical,
		Description:  "router rules give each matcher the values Traefik v3 takes",
		HowToResolve: "give Host, HostRegexp, Path, PathPrefix, Method and ClientIP one value each and join them with ||: Host(`a`) || Host(`b`), which Traefik v2 reads too; for extra domains write Host(`${DOMAIN}`)${EXTRA_DOMAINS} with EXTRA_DOMAINS=' || Host(`www.example.org`)'. Traefik v3 drops a router whose rule has more, so its domains answer 404 (a router may keep v2's syntax with traefik.http.routers.<name>.ruleSyntax=v2, deprecated: R115)",
		Check:        checkTraefikArguments,
	},
	{
		ID: "R111", Severity: Critical,
		Description:  "router rules use no matcher or form only Traefik v2 reads",
		HowToResolve: "write Header for Headers, HeaderRegexp for HeadersRegexp, Host for HostHeader, Query(`key`, `value`) for Query(`key=value`), and a Go regexp for v2's {name:regexp} placeholders: HostRegexp(`^[a-z]+\\.example\\.org$$`), PathRegexp(`^/item/[0-9]+$$`), or Host for a plain host name ($$ is how a compose file writes $); Traefik v3 drops a router with a v2 matcher and never matches a v2 template",
		Check:        checkTraefikV2Matchers,
	},
	{
		ID: "R112", Severity: Critical,
		Description:  "a service has traefik.docker.* or traefik.swarm.* labels, not both",
		HowToResolve: "keep only the traefik.swarm.* labels: Traefik v3 skips a Swarm service with both, and every router on it",
		Check:        checkTraefikProviderLabels,
	},
	{
		ID: "R113", Severity: Critical,
		Description:  "every router reaches a service with a port",
		HowToResolve: "add traefik.http.services.<name>.loadbalancer.server.port=<port> to each service with routers (Swarm tells Traefik no port, and without one Traefik skips the service), name it with traefik.http.routers.<router>.service=<name> when a service defines several, and name only services the recipe defines, or a provider's (api@internal)",
		Check:        checkTraefikPorts,
	},
	{
		ID: "R114", Severity: Warn,
		Description:  "Swarm services use traefik.swarm.* labels, not traefik.docker.*",
		HowToResolve: "once the server runs Traefik v3, rename traefik.docker.network and traefik.docker.lbswarm to traefik.swarm.network and traefik.swarm.lbswarm (Traefik v2 reads only traefik.docker.*); a traefik.docker.network naming the network the traefik recipe's provider uses already (proxy) can go now",
		Check:        checkTraefikDockerLabels,
	},
	{
		ID: "R115", Severity: Warn,
		Description:  "routers use Traefik v3's rule syntax",
		HowToResolve: "rewrite the rule in v3 syntax (see R110 and R111) and remove traefik.http.routers.<name>.ruleSyntax=v2: Traefik v3 deprecates it and its next major version removes it",
		Check:        checkTraefikRuleSyntax,
	},
	{
		ID: "R116", Severity: Warn,
		Description:  "every router names its entrypoints",
		HowToResolve: "add traefik.http.routers.<name>.entrypoints=web-secure (the traefik recipe's HTTPS entrypoint): without it Traefik serves the router on every entrypoint",
		Check:        checkTraefikEntrypoints,
	},
}

const notLoaded = "compose files do not load (R101)"

func checkComposeVersion(r *Recipe) Result {
	files := r.rawFiles()
	if len(files) == 0 {
		return skip(notLoaded)
	}
	var missing []string
	for _, f := range r.ComposeFiles {
		if d, ok := r.Raw[f]; ok {
			if _, ok := d["version"]; !ok {
				missing = append(missing, f)
			}
		}
	}
	if len(missing) > 0 {
		return fail("no version: " + strings.Join(missing, ", "))
	}
	return pass("")
}

func checkHealthchecks(r *Recipe) Result {
	svcs := r.services()
	if len(svcs) == 0 {
		return skip("no services")
	}
	var none, disabled []string
	for _, name := range svcs {
		hc, ok := r.service(name)["healthcheck"].(map[string]any)
		switch {
		case !ok:
			none = append(none, name)
		case hc["disable"] == true || isNoneTest(hc["test"]):
			disabled = append(disabled, name)
		}
	}
	var parts []string
	if len(none) > 0 {
		parts = append(parts, "none: "+strings.Join(none, ", "))
	}
	if len(disabled) > 0 {
		parts = append(parts, "disabled: "+strings.Join(disabled, ", "))
	}
	if len(parts) > 0 {
		return fail(strings.Join(parts, "; "))
	}
	return pass("")
}

func isNoneTest(v any) bool {
	switch t := v.(type) {
	case string:
		return t == "NONE"
	case []any:
		return len(t) > 0 && t[0] == "NONE"
	}
	return false
}

// image is a service's image as loaded, parsed.
type image struct {
	service, ref string
	tag          string // "" when untagged
	digest       bool
	err          error
}

func (r *Recipe) images() []image {
	var out []image
	for _, svc := range r.Compose.Services {
		im := image{service: svc.Name, ref: svc.Image}
		named, err := reference.ParseNormalizedNamed(svc.Image)
		if err != nil {
			im.err = err
		} else {
			if t, ok := named.(reference.Tagged); ok {
				im.tag = t.Tag()
			}
			_, im.digest = named.(reference.Digested)
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b image) int { return strings.Compare(a.service, b.service) })
	return out
}

func checkImagesTagged(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	var bad []string
	for _, im := range r.images() {
		switch {
		case im.err != nil:
			bad = append(bad, fmt.Sprintf("%s: %s (invalid)", im.service, im.ref))
		case im.tag == "" && !im.digest:
			bad = append(bad, fmt.Sprintf("%s: %s", im.service, im.ref))
		}
	}
	if len(bad) > 0 {
		return fail("untagged: " + strings.Join(bad, "; "))
	}
	return pass("")
}

var unstableTags = []string{"latest", "main", "master", "edge", "nightly", "dev"}

// unstable reports whether tag moves: latest, or a variant of it like latest-amd64.
func unstable(tag string) bool {
	tag = strings.ToLower(tag)
	for _, u := range unstableTags {
		if tag == u || strings.HasPrefix(tag, u+"-") {
			return true
		}
	}
	return false
}

func checkNoUnstableTags(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	var bad []string
	for _, im := range r.images() {
		switch {
		case im.err != nil || im.digest:
		case im.tag == "":
			bad = append(bad, fmt.Sprintf("%s: %s (untagged is latest)", im.service, im.ref))
		case unstable(im.tag):
			bad = append(bad, fmt.Sprintf("%s: %s", im.service, im.ref))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	return pass("")
}

// semverLike is a version number of one to four parts, with an optional
// leading v and variant suffix: 1, 1.2.3, v2.4.8, 8.0-fpm-alpine3.13.
var semverLike = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){0,3}([-_+.][0-9A-Za-z][0-9A-Za-z._+-]*)?$`)

func checkSemverLikeTags(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	var bad []string
	for _, im := range r.images() {
		if im.err == nil && im.tag != "" && !semverLike.MatchString(im.tag) {
			bad = append(bad, fmt.Sprintf("%s: %s", im.service, im.ref))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	return pass("")
}

func checkPublishedVersion(r *Recipe) Result {
	if r.ReleasesErr != nil {
		return skip(r.ReleasesErr.Error())
	}
	var published, oldStyle, lightweight []string
	for _, rel := range r.Releases {
		switch {
		case rel.Version.Upstream() == "":
			oldStyle = append(oldStyle, rel.Tag)
		case !rel.Annotated:
			lightweight = append(lightweight, rel.Tag)
		default:
			published = append(published, rel.Tag)
		}
	}
	switch {
	case len(published) > 0:
		return pass("latest " + published[len(published)-1])
	case len(lightweight) > 0:
		return fail("only lightweight tags: " + strings.Join(lightweight, ", "))
	case len(oldStyle) > 0:
		return fail("no <version>+<upstream> tags, only " + strings.Join(oldStyle, ", "))
	}
	return fail("no release tags")
}

var metadataFields = []string{"Category", "Status", "Image", "Healthcheck", "Backups", "Email", "Tests", "SSO"}

var metadataLine = regexp.MustCompile(`^\s*[*-]\s*\*\*([^*]+)\*\*\s*:?\s*(.*)$`)

func checkReadmeMetadata(r *Recipe) Result {
	if errors.Is(r.ReadmeErr, fs.ErrNotExist) {
		return fail("no README.md")
	}
	if r.ReadmeErr != nil {
		return fail(r.ReadmeErr.Error())
	}
	_, rest, ok := strings.Cut(r.Readme, "<!-- metadata -->")
	block, _, closed := strings.Cut(rest, "<!-- endmetadata -->")
	if !ok || !closed {
		return fail("no <!-- metadata --> … <!-- endmetadata --> block")
	}
	values := map[string]string{}
	for line := range strings.Lines(block) {
		if m := metadataLine.FindStringSubmatch(strings.TrimRight(line, "\r\n")); m != nil {
			values[strings.TrimSpace(strings.TrimSuffix(m[1], ":"))] = strings.TrimSpace(m[2])
		}
	}
	var missing, empty []string
	for _, f := range metadataFields {
		v, ok := values[f]
		switch {
		case !ok:
			missing = append(missing, f)
		case v == "" || v == "?" || strings.EqualFold(v, "TBC") || strings.EqualFold(v, "TODO"):
			empty = append(empty, f)
		}
	}
	var parts []string
	if len(missing) > 0 {
		parts = append(parts, "missing: "+strings.Join(missing, ", "))
	}
	if len(empty) > 0 {
		parts = append(parts, "not filled in: "+strings.Join(empty, ", "))
	}
	if len(parts) > 0 {
		return fail(strings.Join(parts, "; "))
	}
	return pass("")
}

func checkEnvSample(r *Recipe) Result {
	switch {
	case errors.Is(r.EnvSampleErr, fs.ErrNotExist):
		return fail("no .env.sample")
	case r.EnvSampleErr != nil:
		return fail(r.EnvSampleErr.Error())
	}
	return pass("")
}

func checkAppService(r *Recipe) Result {
	svcs := r.services()
	switch {
	case len(r.rawFiles()) == 0:
		return skip(notLoaded)
	case len(svcs) == 0:
		return fail("no services")
	case !slices.Contains(svcs, "app"):
		return fail("services: " + strings.Join(svcs, ", "))
	}
	return pass("")
}

func checkTraefikEnabled(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	var on []string
	for _, l := range r.labels() {
		if l.IKey == "traefik.enable" && strings.TrimSpace(strings.Trim(l.IVal, `"'`)) == "true" {
			on = append(on, l.Service)
		}
	}
	if len(on) == 0 {
		return fail("no service has traefik.enable=true")
	}
	return pass(strings.Join(on, ", "))
}

func checkImagePresent(r *Recipe) Result {
	svcs := r.services()
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	var bad []string
	for _, name := range svcs {
		raw, ok := r.service(name)["image"].(string)
		switch {
		case !ok || strings.TrimSpace(raw) == "":
			bad = append(bad, name+": no image")
		case strings.TrimSpace(r.interpolate(raw)) == "":
			bad = append(bad, fmt.Sprintf("%s: %s is empty with .env.sample's values", name, raw))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	return pass("")
}

// versionVars returns the variables of a config or secret name that version
// it: all but STACK_NAME and DOMAIN.
func versionVars(name string) []string {
	var out []string
	for _, v := range variables(name) {
		if v.Name != "STACK_NAME" && v.Name != "DOMAIN" && !slices.Contains(out, v.Name) {
			out = append(out, v.Name)
		}
	}
	return out
}

func checkConfigVersionsExported(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	configs := r.section("configs")
	var bad []string
	n := 0
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		c := configs[key]
		if isTrue(c["external"]) {
			continue
		}
		n++
		name, _ := c["name"].(string)
		vars := versionVars(name)
		if len(vars) == 0 {
			bad = append(bad, key+": name has no version variable")
			continue
		}
		for _, v := range vars {
			if _, ok := r.Exports[v]; ok {
				continue
			}
			where := ""
			if r.EnvSample != nil {
				if _, ok := r.EnvSample.Get(v); ok {
					where = " (set in .env.sample instead)"
				}
			}
			bad = append(bad, fmt.Sprintf("%s: %s not exported%s", key, v, where))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	if n == 0 {
		return pass("no configs")
	}
	return pass("")
}

func isTrue(v any) bool {
	switch t := v.(type) {
	case bool:
		return t
	case string:
		return strings.EqualFold(t, "true")
	}
	return false
}

func checkAnnotatedTags(r *Recipe) Result {
	if r.ReleasesErr != nil {
		return skip(r.ReleasesErr.Error())
	}
	if len(r.Releases) == 0 {
		return skip("no release tags")
	}
	var light []string
	for _, rel := range r.Releases {
		if !rel.Annotated {
			light = append(light, rel.Tag)
		}
	}
	if len(light) > 0 {
		return fail("lightweight: " + strings.Join(light, ", "))
	}
	return pass("")
}

// dockerName is the name Docker gives a secret or config of a stack:
// its name: (interpolated), else <stack>_<key>, or just key when external.
func dockerName(key string, def map[string]any, env map[string]string) string {
	name, _ := def["name"].(string)
	switch {
	case name != "":
		return interpolateWith(name, env)
	case isTrue(def["external"]):
		return key
	}
	return env["STACK_NAME"] + "_" + key
}

func checkNameLengths(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	// The app's stack name or the longest, and a version for each unset *_VERSION.
	env := maps.Clone(r.Env)
	env["STACK_NAME"] = strings.Repeat("x", maxStackName)
	if r.StackName != "" {
		env["STACK_NAME"] = r.StackName
	}
	var bad []string
	longest, longestLen := "", 0
	for _, kind := range []string{"secrets", "configs"} {
		defs := r.section(kind)
		for _, key := range slices.Sorted(maps.Keys(defs)) {
			def := defs[key]
			if name, _ := def["name"].(string); name != "" {
				for _, v := range versionVars(name) {
					if env[v] == "" {
						env[v] = "v1"
					}
				}
			}
			n := len(dockerName(key, def, env))
			what := strings.TrimSuffix(kind, "s") + " " + key
			if n > dockerNameLimit {
				bad = append(bad, fmt.Sprintf("%s: %d characters", what, n))
			}
			if n > longestLen {
				longest, longestLen = what, n
			}
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	if longest == "" {
		return pass("no secrets or configs")
	}
	return pass(fmt.Sprintf("longest: %s, %d of %d", longest, longestLen, dockerNameLimit))
}

func checkComposeLoads(r *Recipe) Result {
	if r.LoadErr != nil {
		return fail(r.loadErr())
	}
	detail := strings.Join(r.ComposeFiles, ", ")
	if len(r.ComposeWarnings) > 0 {
		detail += "; " + strings.Join(r.ComposeWarnings, "; ")
	}
	return pass(detail)
}

// traefikName matches the labels that name a traefik router, service or
// middleware: traefik.http.routers.<name>.rule and the like.
var traefikName = regexp.MustCompile(`^traefik\.(?:http|tcp|udp)\.(routers|services|middlewares)\.([^.]+)\.(.+)$`)

// traefikNames returns the fixed (not ${STACK_NAME}-derived) traefik names
// by kind, and the routers whose rule uses no variable at all.
func (r *Recipe) traefikNames() (fixed map[string][]string, fixedRules []string) {
	fixed = map[string][]string{}
	for _, l := range r.labels() {
		m := traefikName.FindStringSubmatch(l.Key)
		if m == nil {
			continue
		}
		kind, name, prop := m[1], m[2], m[3]
		if !usesVar(name, "STACK_NAME") && !slices.Contains(fixed[kind], name) {
			fixed[kind] = append(fixed[kind], name)
		}
		if kind == "routers" && prop == "rule" && len(variables(l.Val)) == 0 && !slices.Contains(fixedRules, name) {
			fixedRules = append(fixedRules, name)
		}
	}
	return fixed, fixedRules
}

func usesVar(s, name string) bool {
	return slices.ContainsFunc(variables(s), func(v variable) bool { return v.Name == name })
}

// usesStackName reports whether any compose file uses ${STACK_NAME}.
func (r *Recipe) usesStackName() bool {
	found := false
	for _, d := range r.rawFiles() {
		walkStrings(d, func(s string) { found = found || usesVar(s, "STACK_NAME") })
	}
	return found
}

func checkPerApp(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	fixed, fixedRules := r.traefikNames()
	var problems []string
	if len(fixedRules) > 0 {
		problems = append(problems, "fixed hosts in router rule of "+strings.Join(fixedRules, ", "))
	}
	if !r.usesStackName() {
		if names := fixed["routers"]; len(names) > 0 {
			problems = append(problems, "fixed router names ("+strings.Join(names, ", ")+") and no ${STACK_NAME} anywhere: not a Co-op Cloud recipe")
		}
	}
	if len(problems) > 0 {
		return fail(strings.Join(problems, "; "))
	}
	return pass("")
}

func checkNamesPerApp(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	fixed, _ := r.traefikNames()
	for _, kind := range []string{"configs", "secrets"} {
		defs := r.section(kind)
		for _, key := range slices.Sorted(maps.Keys(defs)) {
			def := defs[key]
			name, _ := def["name"].(string)
			switch {
			case name != "" && !usesVar(name, "STACK_NAME"):
				fixed[kind] = append(fixed[kind], key+" ("+name+")")
			case name == "" && isTrue(def["external"]):
				fixed[kind] = append(fixed[kind], key)
			}
		}
	}
	var parts []string
	for _, kind := range []string{"routers", "services", "middlewares", "configs", "secrets"} {
		if len(fixed[kind]) > 0 {
			parts = append(parts, kind+": "+strings.Join(fixed[kind], ", "))
		}
	}
	if len(parts) > 0 {
		return fail("fixed " + strings.Join(parts, "; "))
	}
	return pass("")
}

func checkConfigsBumped(r *Recipe) Result {
	if r.ReleasesErr != nil {
		return skip(r.ReleasesErr.Error())
	}
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	prev, ok := r.previous()
	if !ok {
		return skip("no earlier release to compare with")
	}
	then, err := r.atRelease(prev.Tag)
	if err != nil {
		return skip(err.Error())
	}
	configs := r.section("configs")
	if len(configs) == 0 {
		return pass("no configs")
	}
	var bad []string
	for _, key := range slices.Sorted(maps.Keys(configs)) {
		c := configs[key]
		old, existed := then.configs[key]
		file, _ := c["file"].(string)
		oldFile, _ := old["file"].(string)
		oldFile = path.Clean(oldFile)
		if !existed || isTrue(c["external"]) || file == "" || !filepath.IsLocal(filepath.FromSlash(file)) || !fs.ValidPath(oldFile) || oldFile == "." {
			continue // new, external or outside the recipe: nothing to compare
		}
		now, err := guard.ReadFile(r.Dir, filepath.FromSlash(file))
		if err != nil {
			continue // R107 and R108 report a file outside or missing
		}
		before, err := r.Repo.FileAt(prev.Tag, oldFile)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return skip(err.Error())
		}
		if bytes.Equal(now, before) {
			continue
		}
		newName, _ := c["name"].(string)
		oldName, _ := old["name"].(string)
		if interpolateWith(newName, r.Env) == interpolateWith(oldName, then.env) {
			what := key + ": " + file + " changed"
			if vars := versionVars(newName); len(vars) > 0 {
				what += ", " + strings.Join(vars, ", ") + " not bumped"
			}
			bad = append(bad, what)
		}
	}
	if len(bad) > 0 {
		return fail(fmt.Sprintf("since %s: %s", prev.Tag, strings.Join(bad, "; ")))
	}
	return pass("compared with " + prev.Tag)
}

// snapshot is what a release held: its configs and interpolation env.
type snapshot struct {
	configs map[string]map[string]any
	env     map[string]string
}

// atRelease reads the compose files, abra.sh and .env.sample of a release.
func (r *Recipe) atRelease(tag string) (snapshot, error) {
	s := snapshot{configs: map[string]map[string]any{}}
	read := func(name string) ([]byte, error) {
		b, err := r.Repo.FileAt(tag, name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}
	script, err := read("abra.sh")
	if err != nil {
		return s, err
	}
	s.env = recipe.Exports(script)
	if b, err := read(".env.sample"); err != nil {
		return s, err
	} else if b != nil {
		if f, err := envfile.Parse(".env.sample", b); err == nil {
			maps.Copy(s.env, f.Values())
		}
	}
	s.env["STACK_NAME"] = PlaceholderStackName
	s.env["DOMAIN"] = PlaceholderDomain
	for _, f := range r.ComposeFiles {
		b, err := read(f)
		if err != nil {
			return s, err
		}
		if b == nil {
			continue
		}
		dict, err := loader.ParseYAML(b)
		if err != nil {
			continue // that release did not load either; nothing to compare
		}
		for k, v := range asMap(dict["configs"]) {
			m, _ := v.(map[string]any)
			s.configs[k] = merge(s.configs[k], m)
		}
	}
	return s, nil
}

// commentedKey matches a commented-out assignment in .env.sample: #VAR=…
var commentedKey = regexp.MustCompile(`^\s*#+\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=`)

func checkVariablesDeclared(r *Recipe) Result {
	if r.EnvSample == nil {
		return skip("no usable .env.sample (R008)")
	}
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	declared := map[string]bool{"STACK_NAME": true, "DOMAIN": true}
	for _, k := range r.EnvSample.Keys() {
		declared[k] = true
	}
	for k := range r.Exports {
		declared[k] = true
	}
	for line := range strings.Lines(string(r.envSample)) {
		if m := commentedKey.FindStringSubmatch(line); m != nil {
			declared[m[1]] = true
		}
	}
	where := map[string][]string{}
	for _, f := range r.ComposeFiles {
		d, ok := r.Raw[f]
		if !ok {
			continue
		}
		walkStrings(d, func(s string) {
			for _, v := range variables(s) {
				if !v.HasDefault && !declared[v.Name] && !slices.Contains(where[v.Name], f) {
					where[v.Name] = append(where[v.Name], f)
				}
			}
		})
	}
	if len(where) == 0 {
		return pass("")
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(where)) {
		files := slices.DeleteFunc(slices.Clone(where[name]), func(f string) bool { return f == "compose.yml" })
		if len(files) > 0 {
			name += " (" + strings.Join(files, ", ") + ")"
		}
		parts = append(parts, name)
	}
	return fail("undeclared: " + strings.Join(parts, ", "))
}

func checkVersionLabel(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	key := "coop-cloud." + PlaceholderStackName + ".version"
	var value, service string
	found := false
	var perService []string
	for _, l := range r.labels() {
		switch {
		case l.IKey == key:
			value, service, found = strings.TrimSpace(l.IVal), l.Service, true
		case strings.HasPrefix(l.IKey, "coop-cloud."+PlaceholderStackName+".") && strings.HasSuffix(l.IKey, ".version"):
			perService = append(perService, strings.TrimPrefix(l.IKey, "coop-cloud."+PlaceholderStackName+"."))
		}
	}
	var have string
	switch {
	case found && value != "":
		have = fmt.Sprintf("%s has version %s", service, value)
	case found:
		have = service + " has an empty version label"
	case len(perService) > 0:
		have = "only old per-service labels (" + strings.Join(perService, ", ") + ")"
	default:
		have = "no coop-cloud.${STACK_NAME}.version label"
	}
	if r.ReleasesErr != nil {
		return skip(r.ReleasesErr.Error() + "; " + have)
	}
	want, ok := r.latest()
	if !ok {
		if r.Release != "" {
			return skip("no release " + r.Release)
		}
		return Result{Status: Fail, Severity: Warn, Detail: have + ", but no release is tagged"}
	}
	if found && value == want.Tag {
		return pass(have)
	}
	return fail(have + ", latest release is " + want.Tag)
}

func checkOrigin(r *Recipe) Result {
	if r.Repo == nil {
		return skip(errNoRepo.Error())
	}
	url, ok := r.Repo.Origin()
	if !ok {
		return fail("the clone has no origin remote")
	}
	return pass(url)
}

// fileRefs returns the files each compose file makes docker/cli read, with
// the interpolation env of lint.
func (r *Recipe) fileRefs() []stack.FileRef {
	var refs []stack.FileRef
	for _, f := range r.ComposeFiles {
		if d, ok := r.Raw[f]; ok {
			refs = append(refs, stack.FileRefs(f, d, r.Env)...)
		}
	}
	return refs
}

// relDir strips the recipe directory from an error message, so details
// name files as the recipe does.
func (r *Recipe) relDir(msg string) string {
	return strings.ReplaceAll(msg, r.Dir+string(filepath.Separator), "")
}

func checkFilesInside(r *Recipe) Result {
	var bad []string
	for _, err := range r.Outside {
		bad = append(bad, r.relDir(err.Error()))
	}
	for _, ref := range r.fileRefs() {
		if err := guard.Inside(r.Dir, ref.Path); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %s: %s", ref.Compose, ref.Field, r.relDir(err.Error())))
		}
	}
	// Release notes are shown by app upgrade and rollback.
	if entries, err := os.ReadDir(filepath.Join(r.Dir, releaseNotesDir)); err == nil {
		for _, e := range entries {
			if err := guard.Inside(r.Dir, filepath.Join(releaseNotesDir, e.Name())); err != nil {
				bad = append(bad, r.relDir(err.Error()))
			}
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	if len(r.rawFiles()) == 0 {
		return pass("the files compose files name not checked: " + notLoaded)
	}
	return pass("")
}

const releaseNotesDir = "release"

func checkFilesExist(r *Recipe) Result {
	if len(r.rawFiles()) == 0 {
		return skip(notLoaded)
	}
	refs := r.fileRefs()
	var bad []string
	for _, ref := range refs {
		st, err := guard.Stat(r.Dir, ref.Path)
		switch {
		case errors.Is(err, guard.ErrOutside):
			// R107
		case errors.Is(err, fs.ErrNotExist):
			bad = append(bad, fmt.Sprintf("%s: %s: %s does not exist", ref.Compose, ref.Field, ref.Path))
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %s: %s", ref.Compose, ref.Field, r.relDir(err.Error())))
		case st.IsDir():
			bad = append(bad, fmt.Sprintf("%s: %s: %s is a directory", ref.Compose, ref.Field, ref.Path))
		}
	}
	if len(bad) > 0 {
		return fail(strings.Join(bad, "; "))
	}
	if len(refs) == 0 {
		return pass("no files named")
	}
	return pass("")
}

func checkReferencesDeclared(r *Recipe) Result {
	if r.Compose == nil {
		return skip(notLoaded)
	}
	cfg := r.Compose
	var bad []string
	for _, svc := range cfg.Services {
		var missing []string
		for _, s := range svc.Secrets {
			if _, ok := cfg.Secrets[s.Source]; !ok {
				missing = append(missing, "secret "+s.Source)
			}
		}
		for _, c := range svc.Configs {
			if _, ok := cfg.Configs[c.Source]; !ok {
				missing = append(missing, "config "+c.Source)
			}
		}
		for _, n := range slices.Sorted(maps.Keys(svc.Networks)) {
			// docker stack deploy makes the network "default" when it is used.
			if _, ok := cfg.Networks[n]; !ok && n != "default" {
				missing = append(missing, "network "+n)
			}
		}
		for _, v := range svc.Volumes {
			if v.Type != "volume" || v.Source == "" {
				continue // binds, tmpfs and anonymous volumes need no declaration
			}
			if _, ok := cfg.Volumes[v.Source]; !ok {
				missing = append(missing, "volume "+v.Source)
			}
		}
		if len(missing) > 0 {
			bad = append(bad, svc.Name+": "+strings.Join(missing, ", "))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		return fail("undeclared: " + strings.Join(bad, "; "))
	}
	return pass("")
}
