package dnssec

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The key cache is bounded by what its entries really take, not only by
// their number: a hostile hierarchy of zones with large key sets (here
// 20 keys of 4 KiB each per zone) cannot grow it past MaxBytes.
func TestKeyCacheBoundedInBytes(t *testing.T) {
	const limit = 256 << 10
	v, err := New(Config{MaxBytes: limit})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("A", 4<<10)
	now := time.Now()
	for i := range 200 {
		zone := fmt.Sprintf("z%d.example.", i)
		e := &keyEntry{zone: zone, res: Result{Status: Secure}, expires: now.Add(time.Hour)}
		for range 20 {
			e.keys = append(e.keys, &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET}, Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256, PublicKey: big})
		}
		v.store(zone, e)
		if b := v.CacheBytes(); b > limit || b <= 0 {
			t.Fatalf("after %d zones the key cache counts %d bytes, limit %d", i+1, b, limit)
		}
	}
	// Replacing and expiring entries keep the count exact.
	zone := "z199.example."
	v.store(zone, &keyEntry{zone: zone, res: Result{Status: Insecure}, expires: now.Add(time.Second)})
	if v.cached(zone, now.Add(2*time.Second)) != nil {
		t.Fatal("an expired entry was served")
	}
	var sum int64
	v.mu.Lock()
	for name, e := range v.entries {
		sum += entryCost(name, e)
	}
	v.mu.Unlock()
	if sum != v.CacheBytes() {
		t.Fatalf("counted %d bytes, entries take %d", v.CacheBytes(), sum)
	}
	// An entry larger than the whole cache is not kept.
	huge := &keyEntry{zone: "huge.", expires: now.Add(time.Hour)}
	for range 100 {
		huge.keys = append(huge.keys, &dns.DNSKEY{Hdr: dns.RR_Header{Name: "huge."}, PublicKey: big})
	}
	v.store("huge.", huge)
	if v.cached("huge.", now) != nil || v.CacheBytes() > limit {
		t.Fatalf("an entry past MaxBytes was kept: %d bytes", v.CacheBytes())
	}
}
