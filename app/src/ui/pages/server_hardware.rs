//! The server page's hardware card: what the last registration found (system, CPUs,
//! memory, disks, network interfaces with their switch ports, GPUs, firmware).

use crate::domain::inventory::{size_text, speed_text};
use leptos::prelude::*;

/// Where a network interface is plugged in, as LLDP saw it.
pub(super) fn switch_text(nic: &crate::domain::inventory::Nic) -> String {
    match (&nic.switch, &nic.switch_port) {
        (Some(sw), Some(port)) => format!("{sw} port {port}"),
        (Some(sw), None) => sw.clone(),
        (None, Some(port)) => format!("port {port}"),
        (None, None) => "no LLDP neighbour seen".into(),
    }
}

/// The hardware the last registration found; its firmware against the type's
/// baseline when `firmware` has it (those who see the fleet).
#[component]
pub(super) fn InventoryCard(
    inv: crate::domain::Inventory,
    firmware: Vec<crate::domain::firmware::ComponentVersion>,
) -> impl IntoView {
    let cores: u32 = inv.cpus.iter().map(|c| c.cores).sum();
    let sys = inv.system.clone();
    view! {
        <section class="card" aria-labelledby="hw-h" data-testid="inventory">
            <h2 id="hw-h">"Hardware"</h2>
            <p>{format!("{} {} · BIOS {} · {} CPU(s), {cores} cores · {} GB RAM in {} module(s)",
                sys.manufacturer, sys.model, sys.bios_version, inv.cpus.len(), inv.ram_gb(), inv.memory.len())}</p>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>"Disks"</caption>
                <thead><tr><th>"Model"</th><th>"Serial"</th><th>"Size"</th><th>"Kind"</th></tr></thead>
                <tbody>{inv.disks.iter().map(|d| view! {
                    <tr><td>{d.model.clone()}</td><td class="mono">{d.serial.clone()}</td><td>{size_text(d.size_bytes)}</td><td>{d.kind.as_str()}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
            <div class="table-wrap" tabindex="0"><table class="compact">
                <caption>"Network interfaces"</caption>
                <thead><tr><th>"Name"</th><th>"MAC"</th><th>"Speed"</th><th>"Switch"</th></tr></thead>
                <tbody>{inv.nics.iter().map(|n| view! {
                    <tr><td>{n.name.clone()}</td><td class="mono">{n.mac.clone()}</td><td>{speed_text(n.speed_mbps)}</td><td>{switch_text(n)}</td></tr>
                }).collect_view()}</tbody>
            </table></div>
            {(!inv.gpus.is_empty()).then(|| {
                let mut models: Vec<(String, usize)> = Vec::new();
                for g in &inv.gpus {
                    match models.iter_mut().find(|(m, _)| *m == g.model) {
                        Some((_, n)) => *n += 1,
                        None => models.push((g.model.clone(), 1)),
                    }
                }
                let text = models.iter().map(|(m, n)| format!("{n} × {m}")).collect::<Vec<_>>().join(", ");
                let slots = inv.gpus.iter().map(|g| g.slot.clone()).collect::<Vec<_>>().join(", ");
                view! { <p>"GPUs: " {text} " " <span class="muted">{format!("(slots {slots})")}</span></p> }
            })}
            <details>
                <summary>"CPUs and memory modules"</summary>
                <ul class="plain">
                    {inv.cpus.iter().map(|c| view! { <li>{format!("{}: {}, {} cores / {} threads", c.socket, c.model, c.cores, c.threads)}</li> }).collect_view()}
                    {inv.memory.iter().map(|m| view! { <li>{format!("{}: {} GiB", m.slot, m.size_mib / 1024)}</li> }).collect_view()}
                </ul>
            </details>
        {(!firmware.is_empty()).then(|| view! {
                <div class="table-wrap" tabindex="0"><table class="compact" data-testid="firmware">
                    <caption>"Firmware against the type's baseline"</caption>
                    <thead><tr><th>"Component"</th><th>"Version"</th><th>"Baseline"</th><th>"Drift"</th></tr></thead>
                    <tbody>{firmware.iter().map(|f| view! {
                        <tr>
                            <td>{f.name.clone()}</td>
                            <td class="mono">{f.version.clone()}</td>
                            <td class="mono">{f.baseline.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>{f.drift.as_str().replace('_', " ")}</td>
                        </tr>
                    }).collect_view()}</tbody>
                </table></div>
            })}
        {(firmware.is_empty() && !inv.firmware.is_empty()).then(|| view! {
                <div class="table-wrap" tabindex="0"><table class="compact" data-testid="firmware">
                    <caption>"Firmware"</caption>
                    <thead><tr><th>"Component"</th><th>"Version"</th></tr></thead>
                    <tbody>{inv.firmware.iter().map(|f| view! {
                        <tr><td>{f.name.clone()}</td><td class="mono">{f.version.clone()}</td></tr>
                    }).collect_view()}</tbody>
                </table></div>
            })}
        </section>
    }
}
