/**
 * Line charts for the load report: SVG drawn here, rasterised to PNG with resvg (fonts from
 * the system; DejaVu Sans on the Debian machines). Each chart is a grid of panels sharing
 * the x axis (time since the run started).
 */
import { writeFileSync } from "node:fs";
import { Resvg } from "@resvg/resvg-js";

export interface Series {
  name: string;
  /** [ms since the run started, value]; NaN values leave a gap. */
  points: [number, number][];
}

export interface Panel {
  title: string;
  unit: string;
  series: Series[];
}

const PANEL_WIDTH = 560;
const PANEL_HEIGHT = 300;
const MARGIN = { left: 64, right: 16, top: 34, bottom: 58 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

export function writeChart(file: string, title: string, panels: Panel[], columns = Math.min(2, panels.length)): void {
  const svg = chartSvg(title, panels, columns);
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" }, background: "white" }).render().asPng();
  writeFileSync(file, png);
}

export function chartSvg(title: string, panels: Panel[], columns: number): string {
  const rows = Math.ceil(panels.length / columns);
  const width = columns * PANEL_WIDTH;
  const height = 40 + rows * PANEL_HEIGHT;
  const parts = panels.map((panel, i) => panelSvg(panel, (i % columns) * PANEL_WIDTH, 40 + Math.floor(i / columns) * PANEL_HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="26" font-size="17" text-anchor="middle" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    "</svg>",
  ].join("\n");
}

function panelSvg(panel: Panel, x0: number, y0: number): string {
  const plotWidth = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const all = panel.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const out: string[] = [
    `<g transform="translate(${x0},${y0})">`,
    `<text x="${PANEL_WIDTH / 2}" y="18" font-size="13" text-anchor="middle">${escapeXml(`${panel.title} (${panel.unit})`)}</text>`,
  ];
  if (all.length === 0) {
    out.push(`<text x="${PANEL_WIDTH / 2}" y="${PANEL_HEIGHT / 2}" text-anchor="middle" fill="#888">no data</text>`, "</g>");
    return out.join("\n");
  }
  const xMax = Math.max(...all.map(([x]) => x), 1);
  const yMax = niceCeiling(Math.max(...all.map(([, y]) => y), 0));
  const minutes = xMax > 10 * 60_000;
  const sx = (x: number) => MARGIN.left + (x / xMax) * plotWidth;
  const sy = (y: number) => MARGIN.top + plotHeight - (y / yMax) * plotHeight;

  for (let i = 0; i <= 4; i += 1) {
    const value = (yMax * i) / 4;
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${sy(value)}" y2="${sy(value)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${sy(value) + 4}" text-anchor="end">${formatNumber(value)}</text>`);
  }
  const tick = timeTick(xMax);
  for (let x = 0; x <= xMax; x += tick) {
    out.push(`<text x="${sx(x)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle">${minutes ? x / 60_000 : x / 1000}</text>`);
  }
  out.push(
    `<text x="${MARGIN.left + plotWidth / 2}" y="${MARGIN.top + plotHeight + 32}" text-anchor="middle" fill="#555">${minutes ? "minutes" : "seconds"} since start</text>`,
  );
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`);

  panel.series.forEach((series, i) => {
    const color = COLORS[i % COLORS.length]!;
    const path = linePath(series.points, sx, sy);
    if (path) out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    if (series.points.filter(([, y]) => Number.isFinite(y)).length === 1) {
      const [x, y] = series.points.find(([, v]) => Number.isFinite(v))!;
      out.push(`<circle cx="${sx(x)}" cy="${sy(y)}" r="3" fill="${color}"/>`);
    }
    const legendX = MARGIN.left + (i % 3) * 160;
    const legendY = PANEL_HEIGHT - 10 - (Math.floor(i / 3) === 0 && panel.series.length > 3 ? 14 : 0);
    out.push(
      `<rect x="${legendX}" y="${legendY - 9}" width="12" height="4" fill="${color}"/>`,
      `<text x="${legendX + 16}" y="${legendY - 4}" font-size="11">${escapeXml(series.name)}</text>`,
    );
  });
  out.push("</g>");
  return out.join("\n");
}

/** A round time step (ms) that puts at most eight labels on the x axis. */
function timeTick(xMaxInMs: number): number {
  for (const seconds of [5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600])
    if (xMaxInMs / (seconds * 1000) <= 8) return seconds * 1000;
  return 7200_000;
}

function linePath(points: [number, number][], sx: (x: number) => number, sy: (y: number) => number): string {
  let path = "";
  let pen = false;
  for (const [x, y] of [...points].sort((a, b) => a[0] - b[0])) {
    if (!Number.isFinite(y)) {
      pen = false;
      continue;
    }
    path += `${pen ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)} `;
    pen = true;
  }
  return path.trim();
}

/** 1, 2, 4 or 8 times a power of ten at or above the value: quarters of it are round axis labels. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 4, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function formatNumber(value: number): string {
  if (value >= 1_000_000) return `${(value / 1_000_000).toFixed(value % 1_000_000 === 0 ? 0 : 1)}M`;
  if (value >= 10_000) return `${(value / 1000).toFixed(0)}k`;
  return Number.isInteger(value) ? String(value) : value.toFixed(value < 1 ? 3 : 1);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
