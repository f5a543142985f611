import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ); 100 on every mainstream Linux. */
let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      clockTicks = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * User + system CPU seconds of a process so far, every thread included (ONNX Runtime's pool too), from
 * /proc/<pid>/stat; undefined where /proc cannot be read (not Linux, process gone).
 */
export function processCpuSeconds(pid: number): number | undefined {
  const fields = statFields(pid);
  // Fields 14 (utime) and 15 (stime) of the whole line are 12 and 13 after the name.
  const utime = Number(fields?.[11]);
  const stime = Number(fields?.[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / ticksPerSecond();
}

/**
 * processCpuSeconds summed over the live processes of a process group: a program that runs its work in children
 * (RabbitMQ's start script and its Erlang VM) started in a group of its own. Undefined where /proc cannot be read.
 */
export function processGroupCpuSeconds(groupId: number): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  let total = 0;
  // Field 5 (pgrp) of the whole line is 3 after the name.
  for (const pid of pids) if (Number(statFields(Number(pid))?.[2]) === groupId) total += processCpuSeconds(Number(pid)) ?? 0;
  return total;
}

/** /proc/<pid>/stat's fields after the command name, which sits in parentheses and may hold spaces. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** A process's peak resident set (VmHWM) in bytes, from /proc/<pid>/status; undefined where unreadable. */
export function processPeakRssBytes(pid: number): number | undefined {
  return statusKilobytes(pid, 'VmHWM');
}

/** A process's resident set now (VmRSS) in bytes, from /proc/<pid>/status; undefined where unreadable. */
export function processRssBytes(pid: number): number | undefined {
  return statusKilobytes(pid, 'VmRSS');
}

function statusKilobytes(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB$`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** This process's user + system CPU seconds so far, every thread included. */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** This process's peak resident set in bytes. */
export function ownPeakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

