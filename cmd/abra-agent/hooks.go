package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"coopcloud.tech/abra/internal/agent"
	"coopcloud.tech/abra/internal/webhook"
)

// hookName is a hook's name in /hooks/<name> and in the name of its secret.
var hookName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// hookConfig is the webhook listener's configuration (the recipe's
// compose.hooks.yml sets it).
type hookConfig struct {
	listen   string
	hooks    map[string]webhook.Hook
	explicit map[string]bool
}

// loadHooks reads HOOKS: "<name>:<scheme>[:explicit]" entries, separated by
// spaces or commas, e.g. "recipes:gitea mirror:github:explicit". The scheme
// is fixed here, never chosen by a request. Each hook's secret is the file
// $HOOKS_SECRETS_DIR/hook_<name> when it exists, else $HOOKS_SECRET_FILE
// (default /run/secrets/hooks_secret), trimmed. No HOOKS: no listener.
func loadHooks() (*hookConfig, error) {
	spec := strings.TrimSpace(os.Getenv("HOOKS"))
	if spec == "" {
		return nil, nil
	}
	c := &hookConfig{listen: envOr("HOOKS_LISTEN", ":8080"), hooks: map[string]webhook.Hook{}, explicit: map[string]bool{}}
	shared := envOr("HOOKS_SECRET_FILE", "/run/secrets/hooks_secret")
	dir := envOr("HOOKS_SECRETS_DIR", filepath.Dir(shared))
	for entry := range strings.FieldsSeq(strings.ReplaceAll(spec, ",", " ")) {
		parts := strings.Split(entry, ":")
		if len(parts) < 2 || len(parts) > 3 || len(parts) == 3 && parts[2] != "explicit" {
			return nil, fmt.Errorf("HOOKS: %q: want <name>:<scheme>[:explicit], e.g. recipes:gitea", entry)
		}
		name, scheme := parts[0], webhook.Scheme(parts[1])
		if !hookName.MatchString(name) {
			return nil, fmt.Errorf("HOOKS: hook name %q: want lowercase letters, digits, - and _ (it is the path /hooks/<name>)", name)
		}
		if _, dup := c.hooks[name]; dup {
			return nil, fmt.Errorf("HOOKS: hook %q is named twice", name)
		}
		file := filepath.Join(dir, "hook_"+name)
		if _, err := os.Stat(file); err != nil {
			file = shared
		}
		secret, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("HOOKS: hook %q: its secret: %w (insert it with 'abra app secret insert <agent domain> hooks_secret v1 …')", name, err)
		}
		h := webhook.Hook{Name: name, Scheme: scheme, Secret: strings.TrimSpace(string(secret))}
		if err := h.Check(); err != nil {
			return nil, fmt.Errorf("HOOKS: %w (schemes: gitea, forgejo, github, gitlab, standard)", err)
		}
		c.hooks[name] = h
		c.explicit[name] = len(parts) == 3
	}
	return c, nil
}

// listenHooks binds the listener now (so that a bad address fails the
// agent at once) and serves forge deliveries until ctx ends; jobs run one
// per app at a time on the agent's update pipeline.
func listenHooks(ctx context.Context, c *hookConfig, g *agent.Agent, log io.Writer) (func() error, error) {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return nil, fmt.Errorf("HOOKS_LISTEN %s: %w", c.listen, err)
	}
	jobs := &agent.Jobs{Run: g.WebhookJob, Log: log}
	hs := &agent.HookServer{Hooks: c.hooks, Explicit: c.explicit, Match: g.MatchRecipe, Jobs: jobs, Log: log}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", hs)
	srv := &http.Server{
		Handler: mux,
		// A forge's delivery is small and quick; slow clients do not
		// hold connections (the bodies are bounded by the hooks' MaxBody).
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	jobs.Start(ctx)
	fmt.Fprintf(log, "%s webhooks on %s: %s\n", time.Now().UTC().Format(time.RFC3339), ln.Addr(), hookList(c))
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	return func() error {
		err := srv.Serve(ln)
		jobs.Wait()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, nil
}

func hookList(c *hookConfig) string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(c.hooks)) {
		h := c.hooks[name]
		s := "/hooks/" + name + " (" + string(h.Scheme)
		if c.explicit[name] {
			s += ", explicit"
		}
		out = append(out, s+")")
	}
	return strings.Join(out, ", ")
}
