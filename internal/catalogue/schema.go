package catalogue

import (
	"bytes"
	_ "embed"
	"fmt"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Schema is recipes.schema.json, the JSON Schema (draft 2020-12) of
// recipes.json.
//
//go:embed recipes.schema.json
var Schema []byte

var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("recipes.schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("recipes.schema.json")
})

// Validate checks recipes.json content against Schema.
func Validate(b []byte) error {
	s, err := compiled()
	if err != nil {
		return fmt.Errorf("catalogue schema: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("parse catalogue: %w", err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("catalogue does not match recipes.schema.json: %w", err)
	}
	return nil
}
