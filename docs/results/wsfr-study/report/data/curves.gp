# Redraw with: cd <report dir> && gnuplot data/curves.gp
set terminal svg size 1700,780 font 'Helvetica,13' background rgb 'white'
set termoption noenhanced
set output 'plots/curves.svg'
set border 3 lw 1 lc rgb '#555555'
set tics nomirror out scale 0.6
set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1
set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'
set datafile missing 'NaN'
set multiplot layout 2,3
set key outside right top font ',9' samplen 1.5 spacing 1
set xlabel 'training tokens'
set ylabel 'loss (nats/token)'
set title 'C = 1e13 FLOPs (13 runs)' font ',12'
set yrange [*:*]
set xtics ('0' 0, '2e6' 2000000, '4e6' 4000000, '6e6' 6000000, '8e6' 8000000)
set yrange [*:4.37937]
plot 'data/curves.dat' index 0 using 1:2 with lines lw 1.2 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/curves.dat' index 1 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#CC79A7' notitle, \
     'data/curves.dat' index 2 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/curves.dat' index 3 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 4 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/curves.dat' index 5 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 6 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/curves.dat' index 7 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 8 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'window w=32 d=128', \
     'data/curves.dat' index 9 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 10 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/curves.dat' index 11 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 12 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'window w=512 d=128', \
     'data/curves.dat' index 13 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 14 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/curves.dat' index 15 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 16 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/curves.dat' index 17 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 18 using 1:2 with lines lw 1.2 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/curves.dat' index 19 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#999933' notitle, \
     'data/curves.dat' index 20 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'softmax d=64', \
     'data/curves.dat' index 21 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     'data/curves.dat' index 22 using 1:2 with lines lw 1.2 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/curves.dat' index 23 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#0072B2' notitle, \
     'data/curves.dat' index 24 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/curves.dat' index 25 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'train (smoothed)', \
     NaN with linespoints pt 7 ps 0.6 dt 2 lc rgb '#222222' title 'eval'
set title 'C = 3e13 FLOPs (23 runs)' font ',12'
set yrange [*:*]
set xtics ('0' 0, '5e6' 5000000, '1e7' 10000000, '1.5e7' 15000000, '2e7' 20000000)
set yrange [*:3.82189]
plot 'data/curves.dat' index 26 using 1:2 with lines lw 1.2 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/curves.dat' index 27 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#CC79A7' notitle, \
     'data/curves.dat' index 28 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/curves.dat' index 29 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 30 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/curves.dat' index 31 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 32 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/curves.dat' index 33 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 34 using 1:2 with lines lw 1.2 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/curves.dat' index 35 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#AA4499' notitle, \
     'data/curves.dat' index 36 using 1:2 with lines lw 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/curves.dat' index 37 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#44AA99' notitle, \
     'data/curves.dat' index 38 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'window w=32 d=128', \
     'data/curves.dat' index 39 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 40 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/curves.dat' index 41 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 42 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'window w=512 d=128', \
     'data/curves.dat' index 43 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 44 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/curves.dat' index 45 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 46 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/curves.dat' index 47 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 48 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/curves.dat' index 49 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 50 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/curves.dat' index 51 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 52 using 1:2 with lines lw 1.2 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/curves.dat' index 53 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#999933' notitle, \
     'data/curves.dat' index 54 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'softmax d=64', \
     'data/curves.dat' index 55 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     'data/curves.dat' index 56 using 1:2 with lines lw 1.2 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/curves.dat' index 57 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#0072B2' notitle, \
     'data/curves.dat' index 58 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128', \
     'data/curves.dat' index 59 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 60 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/curves.dat' index 61 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     'data/curves.dat' index 62 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     'data/curves.dat' index 63 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 64 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 1)', \
     'data/curves.dat' index 65 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 66 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 2)', \
     'data/curves.dat' index 67 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 68 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128 (seed 1)', \
     'data/curves.dat' index 69 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 70 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128 (seed 2)', \
     'data/curves.dat' index 71 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'train (smoothed)', \
     NaN with linespoints pt 7 ps 0.6 dt 2 lc rgb '#222222' title 'eval'
set title 'C = 1e14 FLOPs (25 runs)' font ',12'
set yrange [*:*]
set xtics ('0' 0, '2e7' 20000000, '4e7' 40000000, '6e7' 60000000, '8e7' 80000000)
set yrange [*:3.29928]
plot 'data/curves.dat' index 72 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/curves.dat' index 73 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 74 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/curves.dat' index 75 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 76 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/curves.dat' index 77 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 78 using 1:2 with lines lw 1.2 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/curves.dat' index 79 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#AA4499' notitle, \
     'data/curves.dat' index 80 using 1:2 with lines lw 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/curves.dat' index 81 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#44AA99' notitle, \
     'data/curves.dat' index 82 using 1:2 with lines lw 1.2 lc rgb '#0072B2' title 'power p=2 d=384 h=12', \
     'data/curves.dat' index 83 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#0072B2' notitle, \
     'data/curves.dat' index 84 using 1:2 with lines lw 1.2 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/curves.dat' index 85 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#CC79A7' notitle, \
     'data/curves.dat' index 86 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'window w=32 d=128', \
     'data/curves.dat' index 87 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 88 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/curves.dat' index 89 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 90 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'window w=512 d=128', \
     'data/curves.dat' index 91 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 92 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/curves.dat' index 93 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 94 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/curves.dat' index 95 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 96 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/curves.dat' index 97 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 98 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/curves.dat' index 99 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 100 using 1:2 with lines lw 1.2 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/curves.dat' index 101 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#999933' notitle, \
     'data/curves.dat' index 102 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'softmax d=64', \
     'data/curves.dat' index 103 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     'data/curves.dat' index 104 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128', \
     'data/curves.dat' index 105 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 106 using 1:2 with lines lw 1.2 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/curves.dat' index 107 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#D55E00' notitle, \
     'data/curves.dat' index 108 using 1:2 with lines lw 1.2 lc rgb '#CC79A7' title 'softmax d=256', \
     'data/curves.dat' index 109 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#CC79A7' notitle, \
     'data/curves.dat' index 110 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     'data/curves.dat' index 111 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 112 using 1:2 with lines lw 1.2 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/curves.dat' index 113 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#0072B2' notitle, \
     'data/curves.dat' index 114 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 1)', \
     'data/curves.dat' index 115 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 116 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 2)', \
     'data/curves.dat' index 117 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 118 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128 (seed 1)', \
     'data/curves.dat' index 119 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     'data/curves.dat' index 120 using 1:2 with lines lw 1.2 lc rgb '#009E73' title 'softmax d=128 (seed 2)', \
     'data/curves.dat' index 121 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#009E73' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'train (smoothed)', \
     NaN with linespoints pt 7 ps 0.6 dt 2 lc rgb '#222222' title 'eval'
set title 'C = 3e14 FLOPs (14 runs)' font ',12'
set yrange [*:*]
set xtics ('0' 0, '2e7' 20000000, '4e7' 40000000, '6e7' 60000000, '8e7' 80000000)
set yrange [*:2.94569]
plot 'data/curves.dat' index 122 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/curves.dat' index 123 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 124 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/curves.dat' index 125 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 126 using 1:2 with lines lw 1.2 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/curves.dat' index 127 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#AA4499' notitle, \
     'data/curves.dat' index 128 using 1:2 with lines lw 1.2 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/curves.dat' index 129 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#44AA99' notitle, \
     'data/curves.dat' index 130 using 1:2 with lines lw 1.2 lc rgb '#0072B2' title 'power p=2 d=384 h=12', \
     'data/curves.dat' index 131 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#0072B2' notitle, \
     'data/curves.dat' index 132 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/curves.dat' index 133 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 134 using 1:2 with lines lw 1.2 lc rgb '#117733' title 'window w=32 d=128', \
     'data/curves.dat' index 135 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#117733' notitle, \
     'data/curves.dat' index 136 using 1:2 with lines lw 1.2 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/curves.dat' index 137 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#E69F00' notitle, \
     'data/curves.dat' index 138 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'window w=512 d=128', \
     'data/curves.dat' index 139 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 140 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/curves.dat' index 141 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 142 using 1:2 with lines lw 1.2 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/curves.dat' index 143 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#332288' notitle, \
     'data/curves.dat' index 144 using 1:2 with lines lw 1.2 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/curves.dat' index 145 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#882255' notitle, \
     'data/curves.dat' index 146 using 1:2 with lines lw 1.2 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/curves.dat' index 147 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#56B4E9' notitle, \
     'data/curves.dat' index 148 using 1:2 with lines lw 1.2 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/curves.dat' index 149 using 1:2 with linespoints pt 7 ps 0.6 lw 1 dt 2 lc rgb '#999933' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'train (smoothed)', \
     NaN with linespoints pt 7 ps 0.6 dt 2 lc rgb '#222222' title 'eval'
unset multiplot
