package contracts

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Business time. Close, maturity and trade dates and "today" are dates of the platform's business
// time zone (Asia/Tokyo unless the operator's admin sets another with roles:SetBusinessTimeZone),
// taken from the transaction timestamp, not the UTC date: a close at 08:00 in Tokyo on the
// maturity date (23:00 UTC the day before) is on the maturity date.
//
// Every endorser must derive the same date from the same timestamp, whatever zone database its
// machine has (or lacks), so the chaincode does not read the system's zoneinfo: a zone is either a
// name from the fixed table below (zones whose UTC offset does not change over the year) or an
// explicit fixed offset "UTC+09:00". Zones with daylight saving time are refused.

// DefaultTimeZone is the business time zone when the operator has set none.
const DefaultTimeZone = "Asia/Tokyo"

// fixedZones maps the supported zone names to their offset east of UTC in seconds.
var fixedZones = map[string]int{
	"Asia/Tokyo":         9 * 3600,
	"Asia/Seoul":         9 * 3600,
	"Asia/Shanghai":      8 * 3600,
	"Asia/Hong_Kong":     8 * 3600,
	"Asia/Singapore":     8 * 3600,
	"Asia/Taipei":        8 * 3600,
	"Asia/Kolkata":       5*3600 + 30*60,
	"Asia/Dubai":         4 * 3600,
	"Australia/Brisbane": 10 * 3600,
	"UTC":                0,
	"Etc/UTC":            0,
}

var offsetZonePattern = regexp.MustCompile(`^UTC([+-])([0-9]{2}):([0-9]{2})$`)

// zoneOffset returns the offset east of UTC (seconds) of a business time zone name.
func zoneOffset(zone string) (int, error) {
	if off, ok := fixedZones[zone]; ok {
		return off, nil
	}
	if m := offsetZonePattern.FindStringSubmatch(zone); m != nil {
		h, _ := strconv.Atoi(m[2])
		mi, _ := strconv.Atoi(m[3])
		off := h*3600 + mi*60
		if m[1] == "-" {
			off = -off
		}
		if mi%15 != 0 || off < -12*3600 || off > 14*3600 {
			return 0, fmt.Errorf("invalid time zone %q: an offset runs from UTC-12:00 to UTC+14:00 in steps of 15 minutes", zone)
		}
		return off, nil
	}
	return 0, fmt.Errorf("unsupported time zone %q: expected a zone without daylight saving time (Asia/Tokyo, Asia/Seoul, Asia/Shanghai, Asia/Hong_Kong, Asia/Singapore, Asia/Taipei, Asia/Kolkata, Asia/Dubai, Australia/Brisbane, UTC) or a fixed offset such as \"UTC+09:00\" (every peer must derive the same business date without a zone database)",
		truncate(zone, 40))
}

// formatOffset renders an offset as "+09:00".
func formatOffset(off int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("%s%02d:%02d", sign, off/3600, off%3600/60)
}

// PlatformSettings is the platform's settings record (tanpo.meta ["settings"]); GetPlatformSettings
// returns it with the current business date.
type PlatformSettings struct {
	TimeZone     string `json:"timeZone"`
	UTCOffset    string `json:"utcOffset"`              // of the time zone, "+09:00"
	BusinessDate string `json:"businessDate,omitempty"` // GetPlatformSettings: today in the zone
	UpdatedBy    string `json:"updatedBy,omitempty"`
	UpdatedAt    string `json:"updatedAt,omitempty"`
	TxID         string `json:"txId,omitempty"`
}

type settingsEvent struct {
	Event
	Settings PlatformSettings `json:"settings"`
	Previous string           `json:"previousTimeZone"`
}

// settings reads the platform settings once per transaction (the default when none are stored).
func (t *txn) settings() (*PlatformSettings, error) {
	if t.platform != nil {
		return t.platform, nil
	}
	key, err := t.key(keyMeta, "settings")
	if err != nil {
		return nil, err
	}
	var s PlatformSettings
	found, err := t.getJSON(key, &s)
	if err != nil {
		return nil, err
	}
	if !found || s.TimeZone == "" {
		s = PlatformSettings{TimeZone: DefaultTimeZone}
	}
	off, err := zoneOffset(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("corrupt platform settings: %w", err)
	}
	s.UTCOffset = formatOffset(off)
	t.platform = &s
	t.zone = time.FixedZone(s.TimeZone, off)
	return t.platform, nil
}

// businessDate is the transaction's date in the platform's business time zone.
func (t *txn) businessDate() (string, error) {
	if _, err := t.settings(); err != nil {
		return "", err
	}
	return t.now.In(t.zone).Format(isoDate), nil
}
