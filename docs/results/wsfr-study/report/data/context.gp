# Redraw with: cd <report dir> && gnuplot data/context.gp
set terminal svg size 1700,780 font 'Helvetica,13' background rgb 'white'
set termoption noenhanced
set output 'plots/context.svg'
set border 3 lw 1 lc rgb '#555555'
set tics nomirror out scale 0.6
set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1
set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'
set datafile missing 'NaN'
set multiplot layout 2,3
set key outside right top font ',9' samplen 1.5 spacing 1
set logscale x 2
set format x '%g'
set xlabel 'position in context (log2 buckets)'
set ylabel 'loss (nats/token)'
set title 'C = 1e13 FLOPs (13 runs)' font ',12'
plot 'data/context.dat' index 0 using 1:2 with lines lw 1.6 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/context.dat' index 1 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#CC79A7' notitle, \
     'data/context.dat' index 2 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/context.dat' index 3 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 4 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/context.dat' index 5 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 6 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/context.dat' index 7 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 8 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'window w=32 d=128', \
     'data/context.dat' index 9 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 10 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/context.dat' index 11 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 12 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'window w=512 d=128', \
     'data/context.dat' index 13 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 14 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/context.dat' index 15 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 16 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/context.dat' index 17 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 18 using 1:2 with lines lw 1.6 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/context.dat' index 19 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#999933' notitle, \
     'data/context.dat' index 20 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'softmax d=64', \
     'data/context.dat' index 21 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     'data/context.dat' index 22 using 1:2 with lines lw 1.6 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/context.dat' index 23 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#0072B2' notitle, \
     'data/context.dat' index 24 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/context.dat' index 25 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'loss by position', \
     NaN with points pt 6 ps 1.4 lw 2 lc rgb '#222222' title 'knee'
set title 'C = 3e13 FLOPs (23 runs)' font ',12'
plot 'data/context.dat' index 26 using 1:2 with lines lw 1.6 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/context.dat' index 27 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#CC79A7' notitle, \
     'data/context.dat' index 28 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/context.dat' index 29 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 30 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/context.dat' index 31 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 32 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/context.dat' index 33 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 34 using 1:2 with lines lw 1.6 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/context.dat' index 35 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#AA4499' notitle, \
     'data/context.dat' index 36 using 1:2 with lines lw 1.6 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/context.dat' index 37 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#44AA99' notitle, \
     'data/context.dat' index 38 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'window w=32 d=128', \
     'data/context.dat' index 39 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 40 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/context.dat' index 41 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 42 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'window w=512 d=128', \
     'data/context.dat' index 43 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 44 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/context.dat' index 45 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 46 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/context.dat' index 47 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 48 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/context.dat' index 49 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 50 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/context.dat' index 51 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 52 using 1:2 with lines lw 1.6 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/context.dat' index 53 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#999933' notitle, \
     'data/context.dat' index 54 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'softmax d=64', \
     'data/context.dat' index 55 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     'data/context.dat' index 56 using 1:2 with lines lw 1.6 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/context.dat' index 57 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#0072B2' notitle, \
     'data/context.dat' index 58 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128', \
     'data/context.dat' index 59 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 60 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/context.dat' index 61 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     'data/context.dat' index 62 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     'data/context.dat' index 63 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 64 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 1)', \
     'data/context.dat' index 65 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 66 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 2)', \
     'data/context.dat' index 67 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 68 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128 (seed 1)', \
     'data/context.dat' index 69 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 70 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128 (seed 2)', \
     'data/context.dat' index 71 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'loss by position', \
     NaN with points pt 6 ps 1.4 lw 2 lc rgb '#222222' title 'knee'
set title 'C = 1e14 FLOPs (25 runs)' font ',12'
plot 'data/context.dat' index 72 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/context.dat' index 73 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 74 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/context.dat' index 75 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 76 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/context.dat' index 77 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 78 using 1:2 with lines lw 1.6 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/context.dat' index 79 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#AA4499' notitle, \
     'data/context.dat' index 80 using 1:2 with lines lw 1.6 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/context.dat' index 81 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#44AA99' notitle, \
     'data/context.dat' index 82 using 1:2 with lines lw 1.6 lc rgb '#0072B2' title 'power p=2 d=384 h=12', \
     'data/context.dat' index 83 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#0072B2' notitle, \
     'data/context.dat' index 84 using 1:2 with lines lw 1.6 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/context.dat' index 85 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#CC79A7' notitle, \
     'data/context.dat' index 86 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'window w=32 d=128', \
     'data/context.dat' index 87 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 88 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/context.dat' index 89 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 90 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'window w=512 d=128', \
     'data/context.dat' index 91 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 92 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/context.dat' index 93 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 94 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/context.dat' index 95 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 96 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/context.dat' index 97 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 98 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/context.dat' index 99 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 100 using 1:2 with lines lw 1.6 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/context.dat' index 101 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#999933' notitle, \
     'data/context.dat' index 102 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'softmax d=64', \
     'data/context.dat' index 103 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     'data/context.dat' index 104 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128', \
     'data/context.dat' index 105 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 106 using 1:2 with lines lw 1.6 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/context.dat' index 107 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#D55E00' notitle, \
     'data/context.dat' index 108 using 1:2 with lines lw 1.6 lc rgb '#CC79A7' title 'softmax d=256', \
     'data/context.dat' index 109 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#CC79A7' notitle, \
     'data/context.dat' index 110 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     'data/context.dat' index 111 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 112 using 1:2 with lines lw 1.6 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/context.dat' index 113 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#0072B2' notitle, \
     'data/context.dat' index 114 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 1)', \
     'data/context.dat' index 115 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 116 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4 (seed 2)', \
     'data/context.dat' index 117 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 118 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128 (seed 1)', \
     'data/context.dat' index 119 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     'data/context.dat' index 120 using 1:2 with lines lw 1.6 lc rgb '#009E73' title 'softmax d=128 (seed 2)', \
     'data/context.dat' index 121 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#009E73' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'loss by position', \
     NaN with points pt 6 ps 1.4 lw 2 lc rgb '#222222' title 'knee'
set title 'C = 3e14 FLOPs (14 runs)' font ',12'
plot 'data/context.dat' index 122 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/context.dat' index 123 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 124 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/context.dat' index 125 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 126 using 1:2 with lines lw 1.6 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/context.dat' index 127 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#AA4499' notitle, \
     'data/context.dat' index 128 using 1:2 with lines lw 1.6 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/context.dat' index 129 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#44AA99' notitle, \
     'data/context.dat' index 130 using 1:2 with lines lw 1.6 lc rgb '#0072B2' title 'power p=2 d=384 h=12', \
     'data/context.dat' index 131 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#0072B2' notitle, \
     'data/context.dat' index 132 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/context.dat' index 133 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 134 using 1:2 with lines lw 1.6 lc rgb '#117733' title 'window w=32 d=128', \
     'data/context.dat' index 135 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#117733' notitle, \
     'data/context.dat' index 136 using 1:2 with lines lw 1.6 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/context.dat' index 137 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#E69F00' notitle, \
     'data/context.dat' index 138 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'window w=512 d=128', \
     'data/context.dat' index 139 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 140 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/context.dat' index 141 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 142 using 1:2 with lines lw 1.6 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/context.dat' index 143 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#332288' notitle, \
     'data/context.dat' index 144 using 1:2 with lines lw 1.6 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/context.dat' index 145 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#882255' notitle, \
     'data/context.dat' index 146 using 1:2 with lines lw 1.6 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/context.dat' index 147 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#56B4E9' notitle, \
     'data/context.dat' index 148 using 1:2 with lines lw 1.6 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/context.dat' index 149 using 1:2 with points pt 6 ps 1.8 lw 2 lc rgb '#999933' notitle, \
     NaN with lines lw 1.2 lc rgb '#222222' title 'loss by position', \
     NaN with points pt 6 ps 1.4 lw 2 lc rgb '#222222' title 'knee'
unset multiplot
