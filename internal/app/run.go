package app

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"coopcloud.tech/abra/internal/hint"
	"coopcloud.tech/abra/internal/swarm"
)

// ServiceContainer finds a running container of one of the app's services on
// the node abra talks to.
func ServiceContainer(ctx context.Context, c swarm.Cluster, a *App, service string) (swarm.Container, error) {
	if _, err := ServiceID(ctx, c, a, service); err != nil {
		return swarm.Container{}, err
	}
	containers, err := c.Containers(ctx, a.StackName())
	if err != nil {
		return swarm.Container{}, err
	}
	want := a.StackName() + "_" + service
	for _, ct := range containers {
		if ct.Labels["com.docker.swarm.service.name"] == want && ct.State == "running" {
			return ct, nil
		}
	}
	return swarm.Container{}, hint.With(fmt.Errorf("%s: service %s has no running container on this node", a.Domain, service),
		"check it with 'abra app ps "+a.Domain+"'")
}

var functionDef = regexp.MustCompile(`(?m)^\s*(?:function\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(\))?|([A-Za-z_][A-Za-z0-9_]*)\s*\(\))\s*\{`)

// Functions lists the shell functions an abra.sh defines, in order.
func Functions(script []byte) []string {
	var out []string
	for _, m := range functionDef.FindAllSubmatch(script, -1) {
		name := string(m[1]) + string(m[2])
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// CmdScript is the sh program that defines abra.sh's functions and calls one
// with the arguments that follow it ("$@"). The script travels in the command
// line, so nothing has to be copied into the container first.
func CmdScript(script []byte, function string) (string, error) {
	fns := Functions(script)
	if !slices.Contains(fns, function) {
		return "", hint.With(fmt.Errorf("abra.sh has no function %q", function),
			"functions: "+strings.Join(fns, ", "))
	}
	return string(script) + "\n" + function + ` "$@"` + "\n", nil
}
