// Tells the service manager how vigild is doing (systemd Type=notify, via
// libsystemd's sd_notify): READY once serving, STOPPING when draining, and
// WATCHDOG pings from the control loop. Every call is a no-op when vigild was
// not started by systemd (NOTIFY_SOCKET unset). Thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace vigil::server {

void NotifyReady(std::string_view status);
void NotifyStopping();
void NotifyWatchdog();
// Half the watchdog period systemd asked for (WatchdogSec=); nullopt when the
// watchdog is off.
std::optional<std::chrono::microseconds> WatchdogPingInterval();

}  // namespace vigil::server
