// Package observe is the observability wiring that edgekit's programs
// share: the admin server (/metrics, /healthz, /readyz and, opt-in,
// /debug/pprof/, on loopback unless a token is set), the command-line
// flags that turn it on (-metrics, -pprof, -access-log, -otlp) and the
// start-up of a Prometheus registry and, with -otlp, an OpenTelemetry
// tracer that exports over OTLP/HTTP.
//
// The blocks' own adapters live in the subpackages: observe/prom
// (collectors over Stats, histograms fed by hooks) and
// observe/opentelemetry (spans, trace context, the OTel metric API).
//
//	var of observe.Flags
//	of.Register(fs)
//	// ... fs.Parse
//	rt, err := observe.Start(ctx, of, observe.Options{Service: "edge", Out: os.Stdout})
//	defer rt.Close()
//	rt.Registry.MustRegister(prom.Edge(node))
//
// An OTLP collector that is down does not stop the program: spans are
// dropped, and the first failure of each outage is said once on
// Options.Out.
package observe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgekit/edgekit/observe/opentelemetry"
	"github.com/edgekit/edgekit/observe/prom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Flags are the observability flags of edgekit's programs. The zero value
// turns everything off.
// A plain value: copy it freely; safe to read from many goroutines while none changes it.
type Flags struct {
	// Metrics is the admin address (-metrics): empty means no admin
	// server; a bare port listens on 127.0.0.1.
	Metrics string
	// Token and TokenFile (-metrics-token, -metrics-token-file) guard
	// /metrics and /debug/pprof/; a non-loopback -metrics needs one.
	Token, TokenFile string
	// Pprof serves /debug/pprof/ on the admin server (-pprof).
	Pprof bool
	// AccessLog turns on the blocks' access logs (-access-log).
	AccessLog bool
	// OTLP is an OTLP/HTTP endpoint for traces (-otlp): host:port (plain
	// HTTP, path /v1/traces) or a URL. Empty means no tracing.
	OTLP string
}

// Register defines the flags on fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.Metrics, "metrics", "", "admin address serving /metrics, /healthz, /readyz (a bare :port is 127.0.0.1; empty: off; a non-loopback address needs -metrics-token)")
	fs.StringVar(&f.Token, "metrics-token", "", "bearer token for /metrics and /debug/pprof/ (needed off loopback)")
	fs.StringVar(&f.TokenFile, "metrics-token-file", "", "read the -metrics-token from this file (first line)")
	fs.BoolVar(&f.Pprof, "pprof", false, "also serve /debug/pprof/ on the -metrics address")
	fs.BoolVar(&f.AccessLog, "access-log", false, "log one JSON line per request on standard output")
	fs.StringVar(&f.OTLP, "otlp", "", "send traces to this OTLP/HTTP collector (host:port or URL; empty: no tracing)")
}

// token returns the token from Token or the first line of TokenFile.
func (f Flags) token() (string, error) {
	switch {
	case f.Token != "" && f.TokenFile != "":
		return "", errors.New("set -metrics-token or -metrics-token-file, not both")
	case f.TokenFile == "":
		return f.Token, nil
	}
	b, err := os.ReadFile(f.TokenFile)
	if err != nil {
		return "", fmt.Errorf("-metrics-token-file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	if t := strings.TrimSpace(line); t != "" {
		return t, nil
	}
	return "", fmt.Errorf("-metrics-token-file %s: empty token", f.TokenFile)
}

// Check reports a flag combination that cannot be served, naming the
// flag: a non-loopback -metrics without a token, -pprof without
// -metrics.
func (f Flags) Check() error {
	tok, err := f.token()
	if err != nil {
		return err
	}
	if f.Pprof && f.Metrics == "" {
		return errors.New("-pprof needs -metrics")
	}
	if f.Metrics != "" && tok == "" && !IsLoopback(ListenAddr(f.Metrics)) {
		return fmt.Errorf("-metrics %s is not a loopback address: set -metrics-token or -metrics-token-file", f.Metrics)
	}
	return nil
}

// Options are what Start needs beside the flags. A plain value: copy it freely; safe to read from many goroutines while none changes it.
type Options struct {
	// Service names the program in traces (service.name).
	Service string
	// Out receives the admin address and a failed export, once per
	// outage. Nil means io.Discard.
	Out io.Writer
	// Ready is /readyz's check; nil means ready once started.
	Ready func() error
}

// Runtime is what Start set up. Its fields are safe for concurrent use;
// Close must be called once, after the blocks stop.
type Runtime struct {
	// Registry is the program's Prometheus registry, with the Go runtime
	// and process collectors; register the blocks' collectors on it.
	Registry *prometheus.Registry
	// Histograms are registered on Registry with -metrics: hand their
	// hooks to the blocks (EdgeTrace, BalancerTrace, ResolverHooks).
	// Without -metrics it is nil, and its hooks are nil: nobody would
	// read them, so the blocks run with no hook set.
	Histograms *prom.Histograms
	// Tracing configures observe/opentelemetry's hooks and wrappers: a
	// no-op tracer without -otlp (Traced reports which).
	Tracing opentelemetry.Config
	// AccessLog is the access logger with -access-log (JSON lines on
	// Options.Out, at info level), nil without: hand it to the blocks'
	// AccessLog settings.
	AccessLog *zap.Logger
	// AdminAddr is the admin server's address, empty without -metrics.
	AdminAddr string

	tp        *sdktrace.TracerProvider
	stopAdmin context.CancelFunc
	served    chan struct{}
}

// Start sets up what the flags ask: the registry always, the tracer with
// -otlp, the admin server with -metrics (bound before Start returns, so a
// taken port fails here). ctx bounds the admin server's life, as Close
// does.
func Start(ctx context.Context, f Flags, opts Options) (*Runtime, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	rt := &Runtime{Registry: prometheus.NewRegistry()}
	if f.AccessLog {
		rt.AccessLog = AccessLogger(out)
	}
	rt.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if f.Metrics != "" {
		rt.Histograms = prom.NewHistograms(prom.HistogramConfig{})
		rt.Registry.MustRegister(rt.Histograms)
	}
	if f.OTLP != "" {
		exp, err := newExporter(f.OTLP, out)
		if err != nil {
			return nil, err
		}
		res := resource.NewSchemaless(attribute.String("service.name", opts.Service))
		rt.tp = sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		rt.Tracing.TracerProvider = rt.tp
		fmt.Fprintf(out, "tracing: spans to OTLP/HTTP %s\n", f.OTLP)
	}
	if f.Metrics != "" {
		tok, _ := f.token()
		adm, err := NewAdmin(AdminConfig{Addr: f.Metrics, Token: tok, Pprof: f.Pprof, Ready: opts.Ready,
			Metrics: promhttp.HandlerFor(rt.Registry, promhttp.HandlerOpts{})})
		if err != nil {
			rt.Close()
			return nil, err
		}
		ln, err := adm.Listen()
		if err != nil {
			rt.Close()
			return nil, err
		}
		rt.AdminAddr = ln.Addr().String()
		actx, stop := context.WithCancel(ctx)
		rt.stopAdmin, rt.served = stop, make(chan struct{})
		go func() { adm.Serve(actx, ln); close(rt.served) }()
		how := "no token (loopback)"
		if tok != "" {
			how = "token required"
		}
		paths := "/metrics /healthz /readyz"
		if f.Pprof {
			paths += " /debug/pprof/"
		}
		fmt.Fprintf(out, "metrics: http://%s %s, %s\n", rt.AdminAddr, paths, how)
	}
	return rt, nil
}

// Traced reports whether spans are exported (-otlp): without, the
// tracing hooks need not be set at all.
func (rt *Runtime) Traced() bool { return rt.Tracing.TracerProvider != nil }

// Close stops the admin server and flushes the spans not yet exported
// (for at most 5 s). It is idempotent.
func (rt *Runtime) Close() error {
	if rt.stopAdmin != nil {
		rt.stopAdmin()
		<-rt.served
		rt.stopAdmin = nil
	}
	if rt.tp != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := rt.tp.Shutdown(ctx)
		rt.tp = nil
		return err
	}
	return nil
}

// AccessLogger returns a logger writing one JSON object per line to w,
// at info level, with a "time" field in RFC 3339 (nanoseconds): the
// format log shippers read. Writes to w are serialised.
func AccessLogger(w io.Writer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.TimeKey, enc.EncodeTime = "time", zapcore.RFC3339NanoTimeEncoder
	enc.CallerKey, enc.StacktraceKey = "", ""
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), zapcore.Lock(zapcore.AddSync(w)), zapcore.InfoLevel))
}

// newExporter returns an OTLP/HTTP span exporter for endpoint (host:port
// means plain HTTP), wrapped to say its failures once per outage.
func newExporter(endpoint string, out io.Writer) (sdktrace.SpanExporter, error) {
	opts := []otlptracehttp.Option{otlptracehttp.WithTimeout(5 * time.Second)}
	if strings.Contains(endpoint, "://") {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	} else {
		opts = append(opts, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure())
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("-otlp %s: %w", endpoint, err)
	}
	return &onceExporter{SpanExporter: exp, endpoint: endpoint, out: out}, nil
}

// onceExporter says the first failed export of an outage and that export
// works again, and takes the errors in place of the SDK's global error
// handler (which would print every one): a collector that is down costs
// the spans, never the program.
type onceExporter struct {
	sdktrace.SpanExporter
	endpoint string
	failing  atomic.Bool
	mu       sync.Mutex // serialises writes to out
	out      io.Writer
}

func (e *onceExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	switch {
	case err != nil && e.failing.CompareAndSwap(false, true):
		e.say("tracing: export to %s failed, spans are dropped until it answers: %v\n", e.endpoint, err)
	case err == nil && e.failing.CompareAndSwap(true, false):
		e.say("tracing: export to %s works again\n", e.endpoint)
	}
	return nil
}

func (e *onceExporter) say(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.out, format, args...)
}
