package client

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/perfgo/perfgo/pkg/inferencepb"
)

// Parameter names of the protocol and of Triton's extensions.
const (
	paramBinaryDataSize   = "binary_data_size"
	paramBinaryData       = "binary_data"
	paramBinaryDataOutput = "binary_data_output"
	// ParamEnableEmptyFinal asks a streaming server to mark the last
	// response of each request (Triton's triton_enable_empty_final_response).
	ParamEnableEmptyFinal = "triton_enable_empty_final_response"
	// ParamFinalResponse marks the last response of a request on a stream.
	ParamFinalResponse = "triton_final_response"
)

// normParam checks a parameter value and returns it in canonical form:
// bool, int64, uint64, float64 or string.
func normParam(name string, v any) (any, error) {
	switch x := v.(type) {
	case bool, int64, uint64, float64, string:
		return x, nil
	case int:
		return int64(x), nil
	case int8:
		return int64(x), nil
	case int16:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case uint:
		return uint64(x), nil
	case uint8:
		return uint64(x), nil
	case uint16:
		return uint64(x), nil
	case uint32:
		return uint64(x), nil
	case float32:
		return float64(x), nil
	}
	return nil, fmt.Errorf("parameter %q has type %T: use bool, an integer, a float or a string", name, v)
}

// normParams validates a parameter map and returns a canonical copy.
func normParams(params map[string]any) (map[string]any, error) {
	if len(params) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if k == "" {
			return nil, fmt.Errorf("a parameter has an empty name")
		}
		v, err := normParam(k, params[k])
		if err != nil {
			return nil, err
		}
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return nil, fmt.Errorf("parameter %q is %v, which JSON cannot carry", k, f)
		}
		out[k] = v
	}
	return out, nil
}

// toPBParams converts canonical parameters to protobuf.
func toPBParams(params map[string]any) map[string]*inferencepb.InferParameter {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]*inferencepb.InferParameter, len(params))
	for k, v := range params {
		p := &inferencepb.InferParameter{}
		switch x := v.(type) {
		case bool:
			p.ParameterChoice = &inferencepb.InferParameter_BoolParam{BoolParam: x}
		case int64:
			p.ParameterChoice = &inferencepb.InferParameter_Int64Param{Int64Param: x}
		case uint64:
			p.ParameterChoice = &inferencepb.InferParameter_Uint64Param{Uint64Param: x}
		case float64:
			p.ParameterChoice = &inferencepb.InferParameter_DoubleParam{DoubleParam: x}
		case string:
			p.ParameterChoice = &inferencepb.InferParameter_StringParam{StringParam: x}
		}
		out[k] = p
	}
	return out
}

// fromPBParams converts protobuf parameters to Go values.
func fromPBParams(params map[string]*inferencepb.InferParameter) map[string]any {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]any, len(params))
	for k, p := range params {
		switch x := p.GetParameterChoice().(type) {
		case *inferencepb.InferParameter_BoolParam:
			out[k] = x.BoolParam
		case *inferencepb.InferParameter_Int64Param:
			out[k] = x.Int64Param
		case *inferencepb.InferParameter_Uint64Param:
			out[k] = x.Uint64Param
		case *inferencepb.InferParameter_DoubleParam:
			out[k] = x.DoubleParam
		case *inferencepb.InferParameter_StringParam:
			out[k] = x.StringParam
		}
	}
	return out
}

// fromJSONParams converts parameters decoded with UseNumber to Go values:
// integers become int64 (uint64 when too large), other numbers float64.
func fromJSONParams(params map[string]any) map[string]any {
	if len(params) == 0 {
		return nil
	}
	out := make(map[string]any, len(params))
	for k, v := range params {
		if n, ok := v.(json.Number); ok {
			if i, err := n.Int64(); err == nil {
				out[k] = i
			} else if u, err := strconv.ParseUint(string(n), 10, 64); err == nil {
				out[k] = u
			} else if f, err := n.Float64(); err == nil {
				out[k] = f
			} else {
				out[k] = string(n)
			}
			continue
		}
		out[k] = v
	}
	return out
}
