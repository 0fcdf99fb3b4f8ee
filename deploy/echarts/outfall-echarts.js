// The part of ECharts the dashboard uses (api/dashboard/chart.js), bundled into one ES module by
// deploy/install-deps.sh: line and scatter series on a grid with a time axis, legend, tooltip, title,
// shaded areas and lines, drawn on canvas; ECharts' core registers its Chinese and English words.
import * as echarts from "echarts/core";
import { LineChart, ScatterChart } from "echarts/charts";
import {
  GridComponent, LegendComponent, MarkAreaComponent, MarkLineComponent, TitleComponent, TooltipComponent,
} from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([LineChart, ScatterChart, GridComponent, LegendComponent, MarkAreaComponent, MarkLineComponent,
  TitleComponent, TooltipComponent, CanvasRenderer]);

export * from "echarts/core";
